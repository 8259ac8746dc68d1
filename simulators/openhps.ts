// Converts the OpenHPS BLE fingerprint data set (Apache-2.0, Van de Wynckel & Signer 2021,
// doi:10.5281/zenodo.4744380) into a phone-scan site file and contract §7 traces: a phone hears
// eleven fixed beacons on one office floor, standing still at reference points in four headings.
// The test split becomes the scored trace; the train split is kept (as a trace with truth) for the
// fingerprinting baseline only: the gateway never sees it.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { SiteFile } from '../shared/site-schema.ts'
import type { TraceLine } from '../shared/trace.ts'
import { readText } from '../shared/schema-errors.ts'

export const STORE_ID = 'openhps-2021'
/** The one phone that recorded both splits: the scans' device id. */
export const DEVICE_ID = 'openhps-phone'
/** The data set's marker for a beacon not heard in a row (not an RSSI). */
const NOT_HEARD = 100
/**
 * The data set gives no beacon height. Office beacons sit on walls or the ceiling, above a hand-held
 * phone; 2.5 m is the mounting height the contract assumes for fixed radios, not a value fitted here.
 */
const BEACON_HEIGHT_M = 2.5
/** A phone held in front of the chest while scanning. */
const PHONE_HEIGHT_M = 1.2

/** One beacon of `beacons.csv`: its id in the site file is its MAC address, its name the CSV column. */
export interface OpenHpsBeacon {
  id: string
  name: string
  x: number
  y: number
}

/** One scan report (one CSV row): where the phone stood, its heading, and what it heard (site beacon id → dBm). */
export interface OpenHpsScan {
  ts: number
  x: number
  y: number
  heading: number
  rssi: Map<string, number>
}

/** A row split into cells, without blanks or a spreadsheet's quotes. */
function cells(line: string): string[] {
  return line.split(/[,;\t]/).map(c => c.trim().replace(/^"(.*)"$/, '$1'))
}

function readCsv(path: string): Array<Record<string, string>> {
  const [head, ...rows] = readText(path).trim().split(/\r?\n/)
  const cols = cells(head)
  return rows
    .filter(r => r.trim() !== '')
    .map(r => {
      const c = cells(r)
      return Object.fromEntries(cols.map((name, i) => [name, c[i] ?? '']))
    })
}

export function readBeacons(dir: string): OpenHpsBeacon[] {
  return readCsv(join(dir, 'beacons.csv')).map(r => ({ id: r.mac.toLowerCase(), name: r.name, x: Number(r.x), y: Number(r.y) }))
}

/** The train or test split's raw fingerprints, `<dir>/<split>/ble_fingerprints_raw.csv`. */
export function splitPath(dir: string, split: 'train' | 'test'): string {
  return join(dir, split, 'ble_fingerprints_raw.csv')
}

/**
 * The scan reports of one split, in time order. A cell of 100 (not heard), empty, or outside the
 * contract's -127..0 dBm is left out; a row that heard no beacon is kept (it is still a scan).
 */
export function readScans(csvPath: string, beacons: OpenHpsBeacon[]): OpenHpsScan[] {
  const out: OpenHpsScan[] = []
  for (const r of readCsv(csvPath)) {
    const ts = Number(r.TIMESTAMP)
    const x = Number(r.X)
    const y = Number(r.Y)
    if (!Number.isFinite(ts) || !Number.isFinite(x) || !Number.isFinite(y)) continue
    const rssi = new Map<string, number>()
    for (const b of beacons) {
      const v = Number(r[b.name] || NaN)
      if (v !== NOT_HEARD && v >= -127 && v <= 0) rssi.set(b.id, v)
    }
    out.push({ ts, x, y, heading: Number(r.ORIENTATION), rssi })
  }
  return out.sort((a, b) => a.ts - b.ts)
}

/**
 * The site: the eleven beacons (phone-scan mode, contract §2) and the floor as one shop. The floor
 * outline is what an installer would draw from the plan: the bounding box of the beacons and of
 * the reference points of both splits, rounded out to whole metres (extent only, no readings).
 */
export function convertSite(dir: string): SiteFile {
  const beacons = readBeacons(dir)
  const points = [
    ...beacons,
    ...(['train', 'test'] as const).filter(s => existsSync(splitPath(dir, s))).flatMap(s => readCsv(splitPath(dir, s)).map(r => ({ x: Number(r.X), y: Number(r.Y) })))
  ].filter(p => Number.isFinite(p.x) && Number.isFinite(p.y))
  const xs = points.map(p => p.x)
  const ys = points.map(p => p.y)
  const [x0, y0, x1, y1] = [Math.floor(Math.min(...xs)), Math.floor(Math.min(...ys)), Math.ceil(Math.max(...xs)), Math.ceil(Math.max(...ys))]
  return {
    type: 'FeatureCollection',
    storeId: STORE_ID,
    name: 'OpenHPS office floor, VUB WISE lab (real data, phone-scan)',
    timezone: 'Europe/Brussels',
    // The site defaults: nothing here is fitted to the data set.
    radio: { pathLossExponent: 2.2, rssiAt1m: -59, tagHeightM: PHONE_HEIGHT_M },
    features: [
      {
        type: 'Feature',
        properties: { kind: 'shop', id: 'floor', name: 'Office floor' },
        geometry: {
          type: 'Polygon',
          coordinates: [
            [
              [x0, y0],
              [x1, y0],
              [x1, y1],
              [x0, y1],
              [x0, y0]
            ]
          ]
        }
      },
      ...beacons.map(b => ({
        type: 'Feature' as const,
        properties: { kind: 'beacon' as const, id: b.id, name: b.name, z: BEACON_HEIGHT_M },
        geometry: { type: 'Point' as const, coordinates: [b.x, b.y] as [number, number] }
      }))
    ]
  }
}

/** Scan reports as trace lines: a §2 scan and a truth line (where the phone stood) per report. */
export function convertScans(scans: OpenHpsScan[], device = DEVICE_ID): TraceLine[] {
  return scans.flatMap(s => [
    { ts: s.ts, store: STORE_ID, device, beacons: [...s.rssi].map(([id, rssi]) => ({ id, rssi })) },
    { ts: s.ts, truth: { subject: device, x: s.x, y: s.y, floor: 0 } }
  ])
}

/**
 * The scans without the values a row repeats from the row before it at the same point and heading
 * (the recording app kept each beacon's last value): only what the phone heard afresh.
 */
export function freshOnly(scans: OpenHpsScan[]): OpenHpsScan[] {
  return scans.map((s, i) => {
    const prev = scans[i - 1]
    if (prev === undefined || prev.x !== s.x || prev.y !== s.y || prev.heading !== s.heading) return s
    return { ...s, rssi: new Map([...s.rssi].filter(([id, v]) => prev.rssi.get(id) !== v)) }
  })
}

/** The scans made at one reference point (all its headings), from the first to the last. */
export interface Stop {
  x: number
  y: number
  scans: OpenHpsScan[]
}

/** Scans grouped into stops: a run of consecutive scans at the same reference point. */
export function stops(scans: OpenHpsScan[]): Stop[] {
  const out: Stop[] = []
  for (const s of scans) {
    const last = out[out.length - 1]
    if (last !== undefined && last.x === s.x && last.y === s.y) last.scans.push(s)
    else out.push({ x: s.x, y: s.y, scans: [s] })
  }
  return out
}
