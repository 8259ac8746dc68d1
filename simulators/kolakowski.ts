// Converts the Kolakowski BLE flat data set (CC BY 4.0, DOI 10.5281/zenodo.5457591) into a site
// file and contract §7 traces: the robot test track and the calibration walk, both with truth, and
// the walking-person test, whose truth is a reference path without timing.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { SiteFile } from '../shared/site-schema.ts'
import { siteProblems } from '../shared/site.ts'
import type { TraceLine } from '../shared/trace.ts'
import { readText } from '../shared/schema-errors.ts'
import { pointInPolygon, polygonBBox, ringSelfIntersects } from '../shared/geometry.ts'

export const STORE_ID = 'kolakowski-flat'
export const TAG_ID = 'tag:robot'
/** The same tag carried by a walking person (the second test scenario). */
export const PERSON_ID = 'tag:person'
/** Sensor ids are the anchors' ids with this prefix; a row's `rssi_<anchor id>` is that sensor's reading. */
const SENSOR_PREFIX = 'a'
/** The tag rode the robot on a 1 m pole: 1.3 m above the floor (dataset description). */
const TAG_HEIGHT_M = 1.3

/** Comma-separated as the data set ships; semicolons or tabs where a spreadsheet re-saved it. */
function separator(head: string): string {
  return [',', ';', '\t'].find(c => head.includes(c)) ?? ','
}

/** A cell without surrounding blanks and quotes (a spreadsheet quotes what it re-saves). */
function cell(c: string | undefined): string {
  return (c ?? '')
    .trim()
    .replace(/^"(.*)"$/, '$1')
    .trim()
}

/** A file's lines, without a spreadsheet's byte-order mark. */
function csvLines(path: string): string[] {
  return readText(path).trim().split(/\r?\n/)
}

function readCsv(path: string): Array<Record<string, string>> {
  const [head, ...rows] = csvLines(path)
  const sep = separator(head)
  const cols = head.split(sep).map(cell)
  return rows.map(r => {
    const cells = r.split(sep)
    return Object.fromEntries(cols.map((c, i) => [c, cell(cells[i])]))
  })
}

/** A `ts` cell in ms since the epoch: nanoseconds as the data set has them, or µs, ms or s by magnitude. */
function epochMs(cell: string): number {
  const v = Number(cell || NaN)
  const scale = v >= 1e17 ? 1e-6 : v >= 1e14 ? 1e-3 : v >= 1e11 ? 1 : 1e3
  return Math.round(v * scale)
}

/** The closed rectangle around some points. */
function box(points: Array<[number, number]>): Array<[number, number]> {
  const xs = points.map(p => p[0])
  const ys = points.map(p => p[1])
  const [x0, y0, x1, y1] = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]
  return [
    [x0, y0],
    [x1, y0],
    [x1, y1],
    [x0, y1],
    [x0, y0]
  ]
}

/**
 * The flat's floor as a closed ring: the layout's wall outline where it is a simple ring holding
 * every anchor (its notches are the interior walls, its cut-outs the space outside the flat), else
 * the outline's bounding box, or without a layout the anchors' with a metre around.
 */
export function footprint(dir: string, anchors: Array<{ x: number; y: number }>): Array<[number, number]> {
  const layout = join(dir, 'layout.csv')
  const walls = existsSync(layout) ? readCsv(layout).map(r => [Number(r.x), Number(r.y)] as [number, number]) : []
  if (walls.length === 0) return box(anchors.flatMap(a => [[a.x - 1, a.y - 1] as [number, number], [a.x + 1, a.y + 1] as [number, number]]))
  const [first, last] = [walls[0], walls[walls.length - 1]]
  const ring = first[0] !== last[0] || first[1] !== last[1] ? [...walls, first] : walls
  const polygon = { type: 'Polygon' as const, coordinates: [ring] }
  const simple = ring.length >= 4 && ring.every(p => p.every(Number.isFinite)) && !ringSelfIntersects(ring)
  return simple && anchors.every(a => pointInPolygon(a.x, a.y, { polygon, bbox: polygonBBox(polygon) })) ? ring : box(walls)
}

/** The flat's site file with the given floor outline. */
function flatSite(anchors: Array<Record<string, string>>, ring: Array<[number, number]>): SiteFile {
  return {
    type: 'FeatureCollection',
    storeId: STORE_ID,
    name: 'Kolakowski BLE flat (real data)',
    timezone: 'Europe/Warsaw',
    // No per-receiver values here: those come from instore-calibrate on the calibration walk.
    // A flat: nobody is heard outside its walls (no street passes), so the walls bound every fix.
    radio: { pathLossExponent: 2.2, rssiAt1m: -59, tagHeightM: TAG_HEIGHT_M, outsideHeard: false },
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'flat', name: 'Flat' }, geometry: { type: 'Polygon', coordinates: [ring] } },
      ...anchors.map(a => ({
        type: 'Feature' as const,
        properties: { kind: 'sensor' as const, id: SENSOR_PREFIX + a.id, radios: ['ble' as const], z: a.z === undefined || a.z === '' ? 2.5 : Number(a.z) },
        geometry: { type: 'Point' as const, coordinates: [Number(a.x), Number(a.y)] as [number, number] }
      }))
    ]
  }
}

export function convertSite(dir: string): SiteFile {
  const anchors = readCsv(join(dir, 'anchors.csv'))
  const ring = footprint(
    dir,
    anchors.map(a => ({ x: Number(a.x), y: Number(a.y) }))
  )
  const site = flatSite(anchors, ring)
  // An outline the site format refuses (too many vertices, degenerate) gives way to its bounding box.
  return siteProblems(site).length === 0 ? site : flatSite(anchors, box(ring))
}

/**
 * A preprocessed DataFrame (`ts` in ns, or µs, ms, s; `x`, `y`, `rssi_<anchor id>`) as trace lines: one reading per
 * receiver that heard the row, one truth line per row, and a heartbeat per receiver each second.
 */
export function convertTrack(csvPath: string, sensors: string[], tag = TAG_ID): TraceLine[] {
  const out: TraceLine[] = []
  let nextBeat = -Infinity
  for (const row of readCsv(csvPath)) {
    const ts = epochMs(row.ts)
    if (!Number.isFinite(ts)) continue
    if (ts >= nextBeat) {
      for (const s of sensors) out.push({ ts, store: STORE_ID, sensor: s, heartbeat: true })
      nextBeat = ts + 1000
    }
    for (const s of sensors) {
      const v = Number(row[`rssi_${s.slice(SENSOR_PREFIX.length)}`] || NaN)
      // Not heard: an empty cell, NaN, or a sentinel outside the contract's -127..0 dBm (-200, +inf).
      if (!(v >= -127 && v <= 0)) continue
      out.push({ ts, store: STORE_ID, sensor: s, t: 'ble', id: tag, rssi: Math.round(v * 100) / 100 })
    }
    if (row.x !== undefined && row.x !== '') {
      out.push({ ts, truth: { subject: tag, x: Math.round(Number(row.x) * 1000) / 1000, y: Math.round(Number(row.y) * 1000) / 1000, floor: 0 } })
    }
  }
  return out.sort((a, b) => a.ts - b.ts)
}

/** What a Kolakowski-style folder holds to score and to calibrate from (paths; lists sorted by name). */
export interface DatasetFiles {
  /** Tracks with truth (`x`, `y` on every row), scored by position error; the robot test first. */
  tracks: string[]
  /** Tracks without truth (a person walking a reference path), scored by distance to that path. */
  walks: string[]
  /** The calibration walk: `calibration/calibration_df.csv` as the data set has it, else every calibration file with truth. */
  calibration: string[]
  /** The walks' reference path (`tests/path_reference.csv`), where there is one. */
  path: string | null
}

/** The first line of a CSV file, split into column names. */
function csvColumns(path: string): string[] {
  const head = csvLines(path)[0]
  return head.split(separator(head)).map(cell)
}

/**
 * Finds the tracks of a Kolakowski-style folder by their columns rather than by name, so a data
 * set with other file names (several test tracks, sessions as separate calibration files) scores
 * the same way. Only files whose receiver columns (`rssi_<id>`) are all the folder's anchors count.
 */
export function datasetFiles(dir: string): DatasetFiles {
  const anchors = new Set(readCsv(join(dir, 'anchors.csv')).map(a => `rssi_${a.id}`))
  const csvs = (sub: string) =>
    existsSync(join(dir, sub))
      ? readdirSync(join(dir, sub))
          .filter(f => f.endsWith('.csv'))
          .sort()
          .map(f => join(dir, sub, f))
      : []
  const kind = (path: string): 'truth' | 'readings' | null => {
    const cols = csvColumns(path)
    const rssi = cols.filter(c => c.startsWith('rssi_'))
    // Every receiver column must be one of the anchors (the data set's raw files use other ids).
    if (!cols.includes('ts') || rssi.length === 0 || !rssi.every(c => anchors.has(c))) return null
    return cols.includes('x') && cols.includes('y') ? 'truth' : 'readings'
  }
  const tests = csvs('tests')
  const robot = (p: string) => (p.endsWith('test_robot_df.csv') ? 0 : 1)
  const tracks = tests.filter(p => kind(p) === 'truth').sort((a, b) => robot(a) - robot(b))
  const walks = tests.filter(p => kind(p) === 'readings')
  const merged = join(dir, 'calibration/calibration_df.csv')
  const calibration = existsSync(merged) ? [merged] : csvs('calibration').filter(p => kind(p) === 'truth')
  const path = join(dir, 'tests/path_reference.csv')
  return { tracks, walks, calibration, path: existsSync(path) ? path : null }
}

/** The walking person's reference path (a `path_reference.csv`) as segments [x0, y0, x1, y1]. */
export function readPath(file: string): Array<[number, number, number, number]> {
  return readCsv(file).map(r => [Number(r.x0), Number(r.y0), Number(r.x1), Number(r.y1)])
}

/** Several tracks as one trace in time order (calibration sessions kept in separate files). */
export function convertTracks(csvPaths: string[], sensors: string[], tag = TAG_ID): TraceLine[] {
  return csvPaths.flatMap(p => convertTrack(p, sensors, tag)).sort((a, b) => a.ts - b.ts)
}

/**
 * A converted walk split where the recording paused for longer than `gapMs`: the calibration walk
 * is four sessions recorded hours apart, which makes a leave-one-session-out check possible.
 */
export function splitSessions(lines: TraceLine[], gapMs = 60_000): TraceLine[][] {
  const sessions: TraceLine[][] = []
  let last = -Infinity
  for (const l of lines) {
    if (l.ts - last > gapMs) sessions.push([])
    sessions[sessions.length - 1].push(l)
    last = l.ts
  }
  return sessions
}
