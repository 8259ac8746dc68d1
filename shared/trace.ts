// Trace lines (contract §7): JSON Lines ordered by `ts`. Reading lines replay as §2 batches,
// heartbeat lines as empty batches, truth lines are ground truth the gateway never sees.
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { once } from 'node:events'
import { Type, type Static } from '@sinclair/typebox'

export const TraceReading = Type.Object({
  ts: Type.Number(),
  store: Type.String(),
  sensor: Type.String(),
  t: Type.Union([Type.Literal('ble'), Type.Literal('wifi')]),
  id: Type.Optional(Type.String()),
  mac: Type.Optional(Type.String()),
  rssi: Type.Number(),
  tx: Type.Optional(Type.Number()),
  seq: Type.Optional(Type.Integer()),
  ch: Type.Optional(Type.Integer()),
  fp: Type.Optional(Type.String())
})
export const TraceHeartbeat = Type.Object({ ts: Type.Number(), store: Type.String(), sensor: Type.String(), heartbeat: Type.Literal(true) })
export const TraceScan = Type.Object({
  ts: Type.Number(),
  store: Type.String(),
  device: Type.String(),
  beacons: Type.Array(Type.Object({ id: Type.String(), rssi: Type.Number() }))
})
export const TraceTruth = Type.Object({
  ts: Type.Number(),
  truth: Type.Object({
    subject: Type.String(),
    x: Type.Number(),
    y: Type.Number(),
    floor: Type.Integer(),
    person: Type.Optional(Type.String())
  })
})

export type TraceReadingT = Static<typeof TraceReading>
export type TraceHeartbeatT = Static<typeof TraceHeartbeat>
export type TraceScanT = Static<typeof TraceScan>
export type TraceTruthT = Static<typeof TraceTruth>
export type TraceLine = TraceReadingT | TraceHeartbeatT | TraceScanT | TraceTruthT

export function isTruth(l: TraceLine): l is TraceTruthT {
  return 'truth' in l
}
export function isHeartbeat(l: TraceLine): l is TraceHeartbeatT {
  return 'heartbeat' in l
}
export function isScan(l: TraceLine): l is TraceScanT {
  return 'beacons' in l
}
export function isReading(l: TraceLine): l is TraceReadingT {
  return 'rssi' in l
}

/**
 * Streams a JSON Lines file; blank lines are skipped, a bad line throws with its number.
 * `counter.bytes` (optional) follows how far the file has been read, for progress reports.
 */
export async function* readJsonLines<T = TraceLine>(path: string, counter?: { bytes: number }): AsyncGenerator<T> {
  const rl = createInterface({ input: createReadStream(path), crlfDelay: Infinity })
  let n = 0
  for await (const line of rl) {
    n++
    if (counter) counter.bytes += Buffer.byteLength(line) + 1
    // A byte-order mark (some editors and exports write one) is not part of the first line's JSON.
    const text = n === 1 ? line.replace(/^\uFEFF/, '') : line
    if (text.trim() === '') continue
    try {
      yield JSON.parse(text) as T
    } catch (err) {
      throw new Error(`${path}:${n}: not JSON: ${(err as Error).message}`)
    }
  }
}

/** A line writer that honours stream backpressure. */
export class JsonLinesWriter {
  private readonly out: WriteStream
  private buf: string[] = []
  constructor(path: string) {
    this.out = createWriteStream(path)
  }

  async write(obj: unknown): Promise<void> {
    this.buf.push(JSON.stringify(obj))
    if (this.buf.length >= 512) await this.flush()
  }

  async flush(): Promise<void> {
    if (this.buf.length === 0) return
    const chunk = this.buf.join('\n') + '\n'
    this.buf = []
    if (!this.out.write(chunk)) await once(this.out, 'drain')
  }

  async close(): Promise<void> {
    await this.flush()
    await new Promise<void>((resolve, reject) => this.out.end((err?: Error | null) => (err ? reject(err) : resolve())))
  }
}
