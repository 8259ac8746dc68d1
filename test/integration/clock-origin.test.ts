// The event clock and what the broker says of a message (issue 27): a retained message from a live
// run, replayed by the broker on subscribe, is never a clock vote (on a one-sensor site it set the
// clock and made the replay behind it late); phones vote per MQTT client, not per phone id they claim.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { parseSite, type Site } from '../../shared/site.ts'
import { silentLogger } from '../../shared/log.ts'
import { Pipeline } from '../../gateway/pipeline.ts'
import { Metrics } from '../../gateway/io/metrics.ts'
import { eventPipelineOptions, metricValue as metric } from '../helpers/gateway.ts'
import { ClockGuard } from '../../gateway/ingest/clock-guard.ts'
import type { PositionMessageT } from '../../shared/messages.ts'

const T0 = 1_764_000_000_000
const MIN = 60_000
const HOUR = 60 * MIN

/** The boutique with its sensor at the middle (b9) only. */
function oneSensorSite(): Site {
  const json = JSON.parse(readFileSync('sites/boutique.site.json', 'utf8')) as { features: Array<{ properties: { kind?: string; id?: string } }> }
  json.features = json.features.filter(f => f.properties.kind !== 'sensor' || f.properties.id === 'b9')
  return parseSite(json, 'one-sensor')
}

test('a retained message from a live run is never a clock vote: the replay behind it is not late', () => {
  const site = oneSensorSite()
  const positions: PositionMessageT[] = []
  const metrics = new Metrics()
  const wall = T0 + 30 * 24 * HOUR
  const p = new Pipeline(
    site,
    eventPipelineOptions(() => wall),
    { position: pos => positions.push(pos), occupancy() {}, events() {}, footfall() {} },
    metrics,
    silentLogger
  )
  const topic = `instore/${site.storeId}/sensors/b9/readings`
  const msg = (ts: number): Buffer => Buffer.from(JSON.stringify({ ts, readings: [{ ts, t: 'ble', id: 'tag:steady', rssi: -60 }] }))
  // Stored at the broker by a live run a minute ago, replayed to the gateway as it subscribes.
  p.take(topic, msg(wall - MIN), { retained: true })
  for (let t = T0; t < T0 + 30_000; t += 250) p.take(topic, msg(t))
  p.advance()
  // The code this started from took the retained message as the clock: all 120 readings late.
  assert.equal(metric(metrics, 'instore_rejected_total', '{reason="late"}'), 0)
  assert.equal(metric(metrics, 'instore_rejected_total', '{reason="retained"}'), 1)
  const mine = positions.filter(q => q.subject === 'tag:steady')
  assert.ok(mine.length >= 20, `${mine.length} positions`)
  assert.ok(mine.every(q => q.ts < T0 + 31_000))
})

test('a site without sensors: one client publishing under six phone ids is one voter, and cannot move the clock', () => {
  const g = new ClockGuard<string>({ maxLeadMs: 2000, maxAheadMs: 10 * MIN, wall: () => T0 + 400 * 24 * HOUR, quorumShare: 0.2 }, 0)
  const admitted: string[] = []
  const refused: string[] = []
  const offer = (label: string, dt: number, device: string, client: string): void => {
    const v = g.offer(label, T0 + dt, { device, client })
    admitted.push(...v.admit)
    refused.push(...v.refuse.map(r => r.item))
  }
  for (let i = 0; i < 6; i++) offer(`p${i}`, i * 100, `${i}`, `c${i}`)
  // One client claims six more phone ids, an hour ahead: per phone id that was half of the twelve heard.
  for (let i = 0; i < 6; i++) offer(`x${i}`, HOUR + i * 100, `${10 + i}`, 'evil')
  offer('p6', 2000, '0', 'c0')
  assert.deepEqual(admitted, ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6'])
  assert.deepEqual(refused, ['x0', 'x1', 'x2', 'x3', 'x4', 'x5'])
  assert.deepEqual([...g.ahead.keys()], ['client:evil'])
})

test('a voter is keyed by at most 64 characters of its MQTT client id (MQTT allows 64 KiB ids: thousands of voters would hold their whole length)', () => {
  const g = new ClockGuard<string>({ maxLeadMs: 2000, maxAheadMs: 10 * MIN, wall: () => T0 + 400 * 24 * HOUR, quorumShare: 0.2 }, 0)
  for (let i = 0; i < 6; i++) g.offer(`p${i}`, T0 + i * 100, { device: `${i}`, client: `c${i}` })
  const long = 'x'.repeat(65_000)
  const refused = g.offer('far', T0 + HOUR, { device: '9', client: long }).refuse.map(r => r.item)
  // Another voter at the old time: the far message is refused as running ahead.
  refused.push(...g.offer('p6', T0 + 2000, { device: '0', client: 'c0' }).refuse.map(r => r.item))
  assert.deepEqual(refused, ['far'])
  assert.deepEqual([...g.ahead.keys()], [`client:${long.slice(0, 64)}`])
})
