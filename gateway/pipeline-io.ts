// The pipeline's inputs and outputs beside its stages (pipeline.ts): what a message becomes while
// it waits for its ticks, why one is dropped, the pipeline's metrics, and what it learns about the
// site's radio, and the pipeline's options and sink.
import { createHash } from 'node:crypto'
import type { Site } from '../shared/site.ts'
import type { Ingested, RejectReason } from './ingest/ingest.ts'
import type { TrackerLearned, TrackerOptions } from './estimation/tracker.ts'
import type { SensorModel } from './estimation/radio-model.ts'
import type { CalibratorState } from './estimation/self-calibration.ts'
import type { Metrics } from './io/metrics.ts'
import type { PositionMessageT, OccupancyMessageT, FootfallMessageT } from '../shared/messages.ts'
import type { InstoreEvent } from '../shared/events.ts'
import type { ClockOptions } from './ingest/clock.ts'
import type { IdentityResolver } from './ingest/identity.ts'
import type { ForeignConfig } from './ingest/foreign.ts'

/**
 * What the gateway learns about the site's radio as it runs, kept across restarts: the sensors'
 * corrections and floors, and the beacons' corrections (phone-scan mode) with the key of the
 * beacons they were learned for.
 */
export interface LearnedRadio {
  calibrator: CalibratorState
  ble: TrackerLearned
  scan?: { key: string; calibrator: CalibratorState }
}

/**
 * Names the radio setup learned state belongs to: the site's radio defaults and its sensors (ids,
 * places, fitted values, maps). Moving a sensor or calibrating again makes the old learning moot.
 */
export function radioKey(site: Site, kind: 'sensor' | 'beacon' = 'sensor'): string {
  const features = site.file.features.filter(f => f.properties.kind === kind)
  return createHash('sha256')
    .update(JSON.stringify([site.file.radio ?? null, features]))
    .digest('hex')
    .slice(0, 16)
}

/** A message taken in: what ingest made of it, and its topic (for the log). */
export interface Taken {
  r: Extract<Ingested, { kind: 'readings' | 'scans' }>
  topic: string
}
/** A message being worked through: its clock time, the ticks due before its readings, whether they are in. */
export interface Work {
  m: Taken
  batchTs: number
  preTarget: number
  ingested: boolean
}

/**
 * Why the pipeline drops a message or reading beyond ingest's reasons (the metrics' label values).
 * `late_scan`: a phone's scan older than the RSSI window behind the clock (it would be forgotten
 * unseen), counted apart from sensors' `late` readings. `retained` (event mode): a stored message
 * the broker replayed on subscribe, never a clock vote nor a reading (it would set the clock to
 * a live run's time and make a replay behind it late).
 */
export const PIPELINE_REASONS = ['clock_ahead', 'overload', 'late_scan', 'retained'] as const
export type DropReason = RejectReason | (typeof PIPELINE_REASONS)[number]

/** The newest time a message claims (its batch time or any reading's), or null when it has none. */
export function newestTs(r: Taken['r']): number | null {
  let t = r.ts
  if (r.kind === 'readings') for (const x of r.readings) if (!Number.isNaN(x.ts) && (t === null || x.ts > t)) t = x.ts
  return t
}

/** The pipeline's counters and gauges. */
export function pipelineMetrics(metrics: Metrics) {
  const m = {
    messages: metrics.counter('instore_messages_total', 'MQTT messages taken in, by kind'),
    readings: metrics.counter('instore_readings_total', 'readings accepted, by source'),
    rejected: metrics.counter('instore_rejected_total', 'messages or readings dropped, by reason'),
    hashedFields: metrics.counter('instore_fields_hashed_total', 'free-text fields from sensors that were or held a MAC address, hashed before use, by field'),
    positions: metrics.counter('instore_positions_total', 'positions published'),
    ticks: metrics.counter('instore_ticks_total', 'pipeline ticks run'),
    devices: metrics.gauge('instore_devices', 'devices tracked, by source'),
    skew: metrics.counter('instore_clock_skew_total', 'readings re-stamped because their clock was off'),
    sensorSeen: metrics.gauge('instore_sensor_last_seen_ms', "event time of each sensor's last message"),
    sensorOnline: metrics.gauge('instore_sensor_online', 'sensor status (1 online, 0 offline)'),
    correction: metrics.gauge('instore_selfcal_correction_db', 'learned RSSI correction per sensor'),
    beaconCorrection: metrics.gauge('instore_selfcal_beacon_correction_db', 'learned RSSI correction per beacon (phone-scan mode)'),
    spread: metrics.gauge('instore_selfcal_spread_ratio', "learned spread of each sensor's readings against the typical sensor's (1 typical; more counts for less)"),
    fixes: metrics.counter('instore_fixes_total', 'position fixes, by result (gated = rejected by the motion filter)'),
    solverWorkers: metrics.gauge('instore_solver_workers', 'solver pool workers running beside the main thread (0: every fix solved inline)'),
    solverRestarts: metrics.counter(
      'instore_solver_worker_restarts_total',
      'times the solver pool replaced its workers after one missed its deadline (its fixes were solved inline)'
    ),
    testWorkers: metrics.gauge('instore_test_pool_workers', 'test pool workers working out shop-entry tests beside the main thread (0: every test inline)'),
    testInline: metrics.counter(
      'instore_test_pool_inline_total',
      'shop-entry tests the main thread worked out itself with the pool on, by reason (failed: a worker failed, hung or exited; unplanned: the tick asked one its plan had not listed)'
    ),
    tickErrors: metrics.counter('instore_tick_errors_total', 'ticks that threw and were skipped'),
    positionsCapped: metrics.counter('instore_positions_capped_total', 'positions not published because a tick reached maxPositionsPerTick'),
    fixtures: metrics.gauge('instore_people_fixtures', 'always-on Wi-Fi devices left out of people counts, by the address they use (learned or from the site file)'),
    wifiDevices: metrics.gauge('instore_wifi_devices', 'Wi-Fi devices (addresses chained into phones) remembered, and addresses seen'),
    flooded: metrics.gauge(
      'instore_people_flooded',
      'places (Wi-Fi: sensor; BLE: shop/sector; ble_id: the sensor hearing new stable BLE ids, or meraki-estimates:<sector|shop|outside> where a Meraki estimate lands; scan_id: the phone scans of the site naming new devices) giving more new devices a minute than a crowd can: their new addresses count as one device, new stable ids open no visit'
    ),
    suspicious: metrics.gauge('instore_people_suspicious_addresses', 'new addresses taken for a sender inventing them (a flooded place) since start, by source'),
    overCapacity: metrics.gauge(
      'instore_people_over_capacity',
      'people counted beyond what a place can hold (its area times people.maxPeoplePerM2), left out of the counts: level sensor (Wi-Fi neighbourhood), shop or sector'
    ),
    excessVisitors: metrics.gauge('instore_people_excess_visitors', 'Wi-Fi devices not counted as visitors because their sensor neighbourhood was full, since start')
  }
  m.hashedFields.inc({ field: 'fp' }, 0)
  return m
}

export function shiftModels(models: Map<string, SensorModel>, deltaDb: number): Map<string, SensorModel> {
  return new Map([...models].map(([id, m]) => [id, { ...m, a: m.a + deltaDb, map: undefined }]))
}

/** A log writer that lets at most 5 lines per kind through per minute of wall time: a flood must not flood the log. */
export function rateLimited(): (kind: string, write: () => void) => void {
  const budget = new Map<string, { windowStart: number; n: number }>()
  return (kind, write) => {
    const now = Date.now()
    const b = budget.get(kind) ?? { windowStart: now, n: 0 }
    if (now - b.windowStart > 60_000) {
      b.windowStart = now
      b.n = 0
    }
    if (b.n++ < 5) write()
    budget.set(kind, b)
  }
}

export interface PipelineOptions {
  prefix: string
  secret: string
  clock: ClockOptions
  /** Tick period, ms of event time: positions are published at least this often per subject. */
  tickMs: number
  /** A subject is present (and published) while heard within this long, ms, per source. */
  presenceMs: { ble: number; wifi: number }
  maxMessageBytes: number
  selfCalibration: boolean
  tracker?: Partial<TrackerOptions>
  /** Resolves apps' rotating EIDs (gateway/ingest/identity.ts); without it every EID is anonymous. */
  identity?: IdentityResolver
  /** Foreign sensors' topic roots (default: each firmware's own). */
  foreign?: ForeignConfig
  /**
   * Set when the clock's lateness is raised for sources that deliver late (Meraki): readings wait
   * in time order and reach the trackers up to `aheadMs` past each tick, as they would live.
   */
  reorder?: { aheadMs: number }
  /** Messages taken in and not yet worked through, at most (default 10,000); past it a message is refused ('overload'). */
  maxInbox?: number
  /** Positions one tick publishes at most (default 5,000): a crowd of rotating addresses must not flood the broker. */
  maxPositionsPerTick?: number
  /**
   * Worker threads beside the main thread: each pool (the shop-entry tests, estimation/test-pool.ts;
   * the fixes, estimation/pool.ts) starts this many (default 0: all inline, the command's too: on a
   * busy box the pool costs more CPU in all than it takes off the main thread). The output is the same with any number.
   */
  workers?: number
}

export interface PipelineSink {
  position(p: PositionMessageT): void
  occupancy(o: OccupancyMessageT): void
  /** Events of one tick, already committed to the outbox. */
  events(e: InstoreEvent[]): void
  footfall(f: FootfallMessageT): void
}
