// Replays a trace (contract §7) onto MQTT (contract §2): reading lines grouped into per-sensor
// batches, heartbeat lines as empty batches, scans to the device topic. Either as fast as the
// broker takes them (bounded in-flight window) or paced at N× real time on the trace's clock.
import { statSync } from 'node:fs'
import type { MqttClient } from 'mqtt'
import { readJsonLines, isTruth, isHeartbeat, isScan, isReading, type TraceLine, type TraceReadingT } from '../shared/trace.ts'
import { topics } from '../shared/mqtt-topics.ts'
import { BoundedPublisher } from './publisher.ts'
import { counterAt, quantumOf, eid } from '../shared/eid.ts'

/** Maps an app's stable subject to the EID it advertises at a time (cached per rotation quantum). */
export function advertiser(devices: Array<{ subject: string; key: string; k: number }>): (id: string, ms: number) => string {
  const keys = new Map(devices.map(d => [d.subject, { key: Buffer.from(d.key, 'hex'), k: d.k, quantum: NaN, id: '' }]))
  return (id, ms) => {
    const d = keys.get(id)
    if (d === undefined) return id
    const c = counterAt(ms)
    const q = quantumOf(c, d.k)
    if (q !== d.quantum) {
      d.quantum = q
      d.id = 'eid:' + eid(d.key, d.k, c)
    }
    return d.id
  }
}

/** Past a batch's window by more than this with no line, ms (a heartbeat period): the trace went quiet. */
const QUIET_MS = 1000

export interface ReplayOptions {
  /** Trace file (JSON Lines). */
  trace: string
  prefix: string
  /** Times real time; 0 or Infinity = as fast as the broker takes it. */
  speed: number
  /** A sensor's batch is sent once it spans this many ms of trace time, default 100. */
  batchMs: number
  /** Most readings in one batch, default 50. */
  batchMax: number
  qos: 0 | 1
  /** Publish every line to this store id instead of its own (a trace recorded under another name). */
  store?: string
  /**
   * Paced replays: a stretch of trace time with no line longer than this (a closed night) takes
   * only this long in wall time, ms; the lines keep their timestamps. Default: no limit.
   */
  maxGapMs?: number
  /** Called about every 2 s of wall time. */
  onProgress?: (p: ReplayProgress) => void
  /** Stops the replay early (e.g. on SIGINT). */
  signal?: AbortSignal
  /**
   * The app phones' identities (the simulator's `TRACE.devices.json`, or keys a server issued):
   * a reading or scan by `app:<hex>` goes out as the EID that phone advertises at that moment.
   * Without it, `app:` ids go out as they are (and a gateway refuses them).
   */
  devices?: Array<{ subject: string; key: string; k: number }>
}

export interface ReplayProgress {
  lines: number
  messages: number
  readings: number
  fraction: number
  ratePerS: number
}

export interface ReplayResult extends ReplayProgress {
  /** The store ids the readings went to. */
  stores: string[]
}

type WireReading = Omit<TraceReadingT, 'store' | 'sensor'>

interface Pending {
  store: string
  sensor: string
  first: number
  readings: WireReading[]
}

export async function replay(client: MqttClient, o: ReplayOptions): Promise<ReplayResult> {
  const pub = new BoundedPublisher(client, 256)
  const size = Math.max(1, statSync(o.trace).size)
  const pending = new Map<string, Pending>()
  const started = Date.now()
  let t0: number | null = null
  /** Paced: the newest line time so far, and the trace time cut out of long gaps (`maxGapMs`). */
  let last = -Infinity
  let skipped = 0
  const read = { bytes: 0 }
  let lines = 0
  let readings = 0
  let lastReport = started
  const pace = Number.isFinite(o.speed) && o.speed > 0
  const onlineSent = new Set<string>()
  const stores = new Set<string>()
  const onAir = o.devices ? advertiser(o.devices) : (id: string) => id

  const send = async (topic: string, body: unknown, retain = false): Promise<void> =>
    await pub.publish(topic, typeof body === 'string' ? body : JSON.stringify(body), { qos: o.qos, retain })
  const flush = async (key: string, ts: number): Promise<void> => {
    const p = pending.get(key)
    if (!p) return
    pending.delete(key)
    await send(topics.readings(o.prefix, p.store, p.sensor), { ts, readings: p.readings })
  }
  const progress = (): ReplayProgress => ({
    lines,
    messages: pub.published,
    readings,
    fraction: Math.min(1, read.bytes / size),
    ratePerS: readings / Math.max(0.001, (Date.now() - started) / 1000)
  })

  for await (const line of readJsonLines<TraceLine>(o.trace, read)) {
    if (o.signal?.aborted) break
    lines++
    if (isTruth(line)) continue
    if (t0 === null) t0 = line.ts
    if (pace) {
      if (line.ts - last > (o.maxGapMs ?? Infinity)) skipped += line.ts - last - (o.maxGapMs ?? 0)
      if (line.ts > last) last = line.ts
      const due = started + (line.ts - t0 - skipped) / o.speed
      const wait = due - Date.now()
      if (wait > 2) await new Promise(resolve => setTimeout(resolve, wait))
    }
    // Batches whose window has passed go out before this line, so sensors stay in time order.
    // A batch still open when the trace went quiet (the store closed) is stamped when its window
    // ended, not at the next line after the gap: its readings would be hours late.
    for (const [key, p] of pending) if (line.ts - p.first >= o.batchMs) await flush(key, line.ts - p.first - o.batchMs > QUIET_MS ? p.first + o.batchMs : line.ts)
    if (o.store !== undefined && 'store' in line) line.store = o.store
    if (isHeartbeat(line) || isReading(line)) {
      stores.add(line.store)
      const statusKey = line.store + '/' + line.sensor
      if (!onlineSent.has(statusKey)) {
        onlineSent.add(statusKey)
        await send(topics.status(o.prefix, line.store, line.sensor), 'online', true)
      }
    }
    if (isHeartbeat(line)) {
      await flush(line.store + '/' + line.sensor, line.ts)
      await send(topics.readings(o.prefix, line.store, line.sensor), { ts: line.ts, readings: [] })
    } else if (isScan(line)) {
      readings += line.beacons.length
      stores.add(line.store)
      await send(topics.scans(o.prefix, line.store, onAir(line.device, line.ts)), { ts: line.ts, beacons: line.beacons })
    } else if (isReading(line)) {
      readings++
      const key = line.store + '/' + line.sensor
      let p = pending.get(key)
      if (!p) {
        p = { store: line.store, sensor: line.sensor, first: line.ts, readings: [] }
        pending.set(key, p)
      }
      const { store: _s, sensor: _n, ...wire } = line
      if (wire.id !== undefined) wire.id = onAir(wire.id, line.ts)
      p.readings.push(wire)
      if (p.readings.length >= o.batchMax) await flush(key, line.ts)
    }
    if (o.onProgress && (lines & 0x3ff) === 0 && Date.now() - lastReport > 2000) {
      lastReport = Date.now()
      o.onProgress(progress())
    }
  }
  for (const [key, p] of [...pending]) await flush(key, p.readings[p.readings.length - 1].ts)
  await pub.drain()
  return { ...progress(), stores: [...stores] }
}
