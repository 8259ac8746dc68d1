// Parts of the pipeline's stages (pipeline.ts), kept apart so the pipeline reads as its list of
// stages: foreign sensors' messages translated, positions a source estimated itself placed, the
// positions published at each tick with what occupancy counts from them, and the pipeline's gauges
// read at each scrape of /metrics.
import type { PositionMessageT } from '../shared/messages.ts'
import { locate, type Site } from '../shared/site.ts'
import type { DropReason, PipelineOptions, PipelineSink, pipelineMetrics } from './pipeline-io.ts'
import type { ExternalFixes } from './ingest/external-fixes.ts'
import { translate } from './ingest/foreign.ts'
import { type Detail, rawDetail } from './ingest/subjects.ts'
import type { Evidence } from './presence/zones.ts'
import { round2, type Latest, type Source } from './estimate-stage.ts'
import type { Tracker } from './estimation/tracker.ts'
import type { SelfCalibrator } from './estimation/self-calibration.ts'
import type { GatewayClock } from './ingest/clock.ts'
import type { Metrics } from './io/metrics.ts'
import type { PresenceEngine } from './presence/presence.ts'
import type { StableIdGate } from './presence/stable-ids.ts'
import type { People, Placed } from './presence/people.ts'

type PipelineMetrics = ReturnType<typeof pipelineMetrics>

/** A foreign sensor's message as a native batch, or null once it is refused (`rejected`) or ignored (counted). */
export function translateForeign(
  topic: string,
  payload: Buffer,
  o: PipelineOptions,
  storeId: string,
  aliases: Map<string, string>,
  m: PipelineMetrics,
  rejected: (reason: DropReason, detail: Detail) => void
): { topic: string; payload: Buffer } | null {
  const f = translate(topic, payload, o.prefix, storeId, aliases, o.foreign, o.maxMessageBytes)
  if (f === null) {
    rejected('bad_topic', rawDetail(topic, 200))
    return null
  }
  if ('reject' in f) {
    rejected(f.reject, f.detail)
    return null
  }
  if ('ignore' in f) {
    m.messages.inc({ kind: 'foreign_ignored' })
    return null
  }
  m.messages.inc({ kind: 'foreign' })
  return f
}

/** Places the positions a source estimated itself that are due at tick t: latest for publishing, fresh evidence for zones. */
export function placeDue(t: number, external: ExternalFixes, site: Site, o: PipelineOptions, latest: Map<string, Latest>, fresh: Map<string, Evidence>): void {
  for (const f of external.due(t, f0 => (f0 === 'wifi' ? o.presenceMs.wifi : o.presenceMs.ble))) {
    const pos: PositionMessageT = {
      subject: f.subject,
      ts: f.ts,
      x: round2(f.x),
      y: round2(f.y),
      floor: f.floor,
      accuracyM: round2(f.accuracyM),
      ...locate(site, f.x, f.y, f.floor),
      source: f.source
    }
    latest.set(f.subject, { pos, lastHeard: f.ts })
    if (f.source === 'ble' && !f.anonymous) fresh.set(f.subject, { x: f.x, y: f.y, accuracyM: f.accuracyM, floor: f.floor })
  }
}

/**
 * Publishes the latest position of every subject still present at tick t (for the time `at`),
 * dropping the ones gone quiet. Returns what went out, in order, and how many (`published`: the
 * cap counts). Nothing here waits for the zone stage, so positions go out before its costly tests.
 */
export function publishPositions(
  t: number,
  at: number,
  latest: Map<string, Latest>,
  o: PipelineOptions,
  sink: PipelineSink,
  m: PipelineMetrics
): { placed: PositionMessageT[]; published: number } {
  const placed: PositionMessageT[] = []
  let published = 0
  let sent = 0
  const cap = o.maxPositionsPerTick ?? 5000
  for (const [subject, l] of latest) {
    const presence = l.pos.source === 'wifi' ? o.presenceMs.wifi : o.presenceMs.ble
    if (t - l.lastHeard > presence) {
      latest.delete(subject)
      continue
    }
    // Between fixes the last position is repeated with its time moved on: at least one per tick.
    const pos = l.pos.ts === at ? l.pos : { ...l.pos, ts: at }
    if (published++ < cap) {
      sink.position(pos)
      m.positions.inc()
      sent++
    } else m.positionsCapped.inc()
    placed.push(pos)
  }
  return { placed, published: sent }
}

/**
 * Sorts a tick's positions for occupancy (after the zone stage: app phones count by confirmed zone
 * state where there is one, hysteresis, else by position; anonymous BLE devices by position).
 */
export function sortPlaced(
  at: number,
  placed: PositionMessageT[],
  randomized: Set<string>,
  o: PipelineOptions,
  engine: PresenceEngine | null
): { apps: Placed[]; anonymous: Placed[]; appAt: Array<{ subject: string; x: number; y: number; floor: number }>; passersBy: number } {
  const apps: Placed[] = []
  const anonymous: Placed[] = []
  const appAt: Array<{ subject: string; x: number; y: number; floor: number }> = []
  let passersBy = 0
  for (const pos of placed) {
    if (pos.source === 'wifi') continue
    if (randomized.has(pos.subject)) {
      anonymous.push(pos)
      continue
    }
    appAt.push(pos)
    if (engine) continue
    if (pos.shop === null) passersBy++
    else apps.push(pos)
  }
  if (engine) {
    const z = engine.placed(at, o.presenceMs.ble)
    apps.push(...z.placed)
    passersBy = z.passersBy
  }
  return { apps, anonymous, appAt, passersBy }
}

export function collectPipelineMetrics(
  metrics: Metrics,
  m: PipelineMetrics,
  trackers: Record<Source, Tracker>,
  clock: GatewayClock,
  calibrator: SelfCalibrator,
  scanCalibrator: SelfCalibrator,
  people: People,
  { stableIds, scanIds }: { stableIds: StableIdGate; scanIds: StableIdGate }
): void {
  metrics.onCollect(() => {
    for (const s of ['ble', 'wifi', 'scan'] as const) m.devices.set({ source: s }, trackers[s].size)
    const all = Object.values(trackers)
    m.fixes.set(
      { result: 'used' },
      all.reduce((n, t) => n + t.fixes - t.gated, 0)
    )
    m.fixes.set(
      { result: 'gated' },
      all.reduce((n, t) => n + t.gated, 0)
    )
    m.skew.set({}, clock.skewed)
    for (const [id, c] of Object.entries(calibrator.corrections())) m.correction.set({ sensor: id }, c)
    for (const [id, c] of Object.entries(scanCalibrator.corrections())) m.beaconCorrection.set({ beacon: id }, c)
    const grid = trackers.scan.scanGrid
    if (grid !== null) {
      const refused = metrics.counter('instore_scan_grid_refused_total', 'phone-scan readings the scan grid left out, by reason')
      for (const [reason, n] of Object.entries(grid.refused)) refused.set({ reason }, n)
      const scans = metrics.counter('instore_scan_grid_scans_total', 'phone scans by what the scan grid did with them (over_budget: the solver placed the phone)')
      for (const [result, n] of Object.entries(grid.results)) scans.set({ result }, n)
    }
    for (const [id, v] of Object.entries(calibrator.spreadScales())) m.spread.set({ sensor: id }, v)
    metrics
      .counter('instore_selfcal_refused_total', 'known-position (site beacon) readings self-calibration refused, by reason')
      .set({ reason: 'implausible' }, calibrator.refusedKnown)
    m.fixtures.values.clear()
    const fx = people.wifi.fixtureLabels()
    for (const f of fx.listed) m.fixtures.set(f, 1)
    if (fx.other > 0) m.fixtures.set({ subject: 'other' }, fx.other)
    m.wifiDevices.set({ kind: 'devices' }, people.wifi.devices.size)
    m.wifiDevices.set({ kind: 'addresses' }, people.wifi.addresses)
    const sus = people.suspicious()
    m.flooded.values.clear()
    for (const f of sus.flooded) m.flooded.set(f, 1)
    for (const place of stableIds.flooded(clock.now())) m.flooded.set({ source: 'ble_id', place }, 1)
    for (const place of scanIds.flooded(clock.now())) m.flooded.set({ source: 'scan_id', place }, 1)
    for (const s of ['wifi', 'ble'] as const) m.suspicious.set({ source: s }, sus.refused[s])
    m.suspicious.set({ source: 'ble_id' }, stableIds.refused)
    m.suspicious.set({ source: 'scan_id' }, scanIds.refused)
    m.overCapacity.values.clear()
    for (const o of sus.overCapacity) m.overCapacity.set({ level: o.level, place: o.place }, Math.round(o.n))
    m.excessVisitors.set({}, sus.excessVisitors)
  })
}
