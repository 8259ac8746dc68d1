// Ingest's CPU per reading, alone: a trace's messages, made as the replay makes them (per-sensor
// batches, app phones' EIDs on air), are recorded once in memory, then taken through `ingest`
// (topic, JSON, schema, ids, subjects) by a resolver holding the trace's devices, pass after pass;
// prints the CPU µs per reading of each pass and the best. No broker, no pipeline: the part of the
// ingest stage (bench/cpu-cost.ts) that is ingest's own, measured where a shared machine moves it least.
//   node --import tsx bench/ingest-cost.ts [--trace FILE] [--passes N] [--limit READINGS]
//   (default: out/bench/hypermarket-quick.jsonl, 5 passes, its first 400,000 readings)
import { existsSync } from 'node:fs'
import type { MqttClient } from 'mqtt'
import { replay } from '../simulators/replay.ts'
import { ingest, type IngestContext } from '../gateway/ingest/ingest.ts'
import { IdentityResolver, loadDevicesFile, materialFromFile } from '../gateway/ingest/identity.ts'
import { SubjectHasher } from '../gateway/ingest/subjects.ts'
import { loadSiteFile } from '../shared/site.ts'
import { devicesBeside } from './trace-files.ts'

interface Message {
  topic: string
  payload: Buffer
}

/** The messages the replay would publish for `trace`, in order, up to about `limit` readings. */
export async function recordMessages(trace: string, limit: number): Promise<{ messages: Message[]; readings: number }> {
  const messages: Message[] = []
  let readings = 0
  const stop = new AbortController()
  // Only `publish` is used by the replay's publisher: a stand-in that keeps the message.
  const client = {
    publish(topic: string, payload: string | Buffer, _o: unknown, done: (err?: Error) => void): void {
      const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload)
      messages.push({ topic, payload: body })
      for (let i = body.indexOf(RSSI_KEY); i >= 0; i = body.indexOf(RSSI_KEY, i + RSSI_KEY.length)) readings++
      if (readings >= limit) stop.abort()
      done()
    }
  } as unknown as MqttClient
  const devices = existsSync(devicesBeside(trace)) ? loadDevicesFile(devicesBeside(trace)) : undefined
  await replay(client, { trace, prefix: 'instore', speed: Infinity, batchMs: 100, batchMax: 50, qos: 0, signal: stop.signal, ...(devices ? { devices } : {}) })
  return { messages, readings }
}
const RSSI_KEY = Buffer.from('"rssi"')

/** One pass of every message through ingest, with a fresh resolver and hasher (the EID forms and topics ingest.ts keeps are the process's); CPU µs per reading. */
export function ingestPass(messages: Message[], readings: number, ctx: () => IngestContext): number {
  const c = ctx()
  let taken = 0
  const t0 = process.cpuUsage()
  for (const m of messages) {
    const r = ingest(m.topic, m.payload, c)
    if (r.kind === 'readings') taken += r.readings.length
  }
  const u = process.cpuUsage(t0)
  if (taken === 0) throw new Error('no reading was taken: wrong site or trace')
  return (u.user + u.system) / readings
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const option = (name: string): string | undefined => {
    const at = process.argv.indexOf(`--${name}`)
    return at > 0 ? process.argv[at + 1] : undefined
  }
  const trace = option('trace') ?? 'out/bench/hypermarket-quick.jsonl'
  const passes = Number(option('passes') ?? 5)
  const limit = Number(option('limit') ?? 400_000)
  if (!existsSync(trace)) throw new Error(`no trace ${trace} (bench/cpu-cost.ts or the throughput part makes it)`)
  const site = loadSiteFile('sites/hypermarket.site.json')
  const { messages, readings } = await recordMessages(trace, limit)
  const devices = existsSync(devicesBeside(trace)) ? materialFromFile(loadDevicesFile(devicesBeside(trace))) : []
  // The gateway's time for an EID is the trace's (event mode, a replay): the claim itself here.
  const ctx = (): IngestContext => {
    const identity = new IdentityResolver()
    identity.replace(devices)
    return {
      prefix: 'instore',
      storeId: site.storeId,
      sensors: new Set(site.sensors.keys()),
      beacons: new Set(site.beacons.keys()),
      hasher: new SubjectHasher('bench-secret'),
      maxBytes: 256 * 1024,
      identity,
      identityTime: ts => ts ?? NaN
    }
  }
  console.log(`ingest alone: ${messages.length} messages, ${readings} readings of ${trace}, ${passes} passes, each with a fresh resolver and hasher`)
  const each: number[] = []
  for (let i = 0; i < passes; i++) each.push(ingestPass(messages, readings, ctx))
  console.log(
    `  CPU µs per reading, each pass: ${each.map(v => v.toFixed(3)).join(', ')}; best ${Math.min(...each).toFixed(3)} (${(Math.min(...each) * 100).toFixed(0)} ms per 100,000 readings)`
  )
  process.exit(0)
}
