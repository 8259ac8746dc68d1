// Event time across gaps (issue 27, items 1 and 2): a silent night, a sensor whose clock runs
// ahead, and work cut into slices. The pipeline alone, on the event clock.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile } from '../../shared/site.ts'
import { silentLogger } from '../../shared/log.ts'
import { Pipeline } from '../../gateway/pipeline.ts'
import { Metrics } from '../../gateway/io/metrics.ts'
import { trackerOptions } from '../../gateway/estimation/tracker.ts'
import type { PositionMessageT } from '../../shared/messages.ts'
import { eventPipelineOptions, metricValue as metric } from '../helpers/gateway.ts'

const site = loadSiteFile('sites/boutique.site.json')
const T0 = 1_764_000_000_000
const HOUR = 3_600_000

interface Msg {
  topic: string
  payload: Buffer
}

function pipeline(): { p: Pipeline; positions: PositionMessageT[]; metrics: Metrics } {
  const positions: PositionMessageT[] = []
  const metrics = new Metrics()
  const p = new Pipeline(site, eventPipelineOptions(), { position: pos => positions.push(pos), occupancy() {}, events() {}, footfall() {} }, metrics, silentLogger)
  return { p, positions, metrics }
}

/** One batch per sensor every 250 ms for `seconds`, device `id` standing at (x, y); `heartbeats`: empty batches instead. */
function stream(from: number, seconds: number, id: string | null, x = 10, y = 6): Msg[] {
  const out: Msg[] = []
  for (let t = from; t < from + seconds * 1000; t += 250) {
    for (const s of site.sensors.values()) {
      const d = Math.hypot(s.x - x, s.y - y, s.z - 1.2)
      const rssi = Math.round(site.radio.rssiAt1m - 10 * site.radio.pathLossExponent * Math.log10(d))
      const readings = id === null ? [] : [{ ts: t, t: 'ble', id, rssi }]
      out.push({ topic: `instore/${site.storeId}/sensors/${s.id}/readings`, payload: Buffer.from(JSON.stringify({ ts: t, readings })) })
    }
  }
  return out
}

test('a silent night: the morning device is placed from when it was first heard, the night is skipped in a few ticks', () => {
  const { p, positions, metrics } = pipeline()
  for (const m of stream(T0, 20, 'tag:evening')) p.handle(m.topic, m.payload)
  const eveningTicks = metric(metrics, 'instore_ticks_total')
  // No heartbeat overnight: the next message is the morning's first reading, 14 hours later.
  const morning = T0 + 14 * HOUR
  for (const m of stream(morning, 20, 'tag:morning', 20, 8)) p.handle(m.topic, m.payload)
  const early = positions.filter(q => q.subject === 'tag:morning' && q.ts < morning - 4000)
  assert.equal(early.length, 0, `placed before it was heard: ${JSON.stringify(early[0])}`)
  const night = positions.filter(q => q.ts > T0 + 60_000 && q.ts < morning - 4000)
  assert.equal(night.length, 0, `${night.length} positions in the night`)
  assert.ok(
    positions.some(q => q.subject === 'tag:morning'),
    'the morning device is placed'
  )
  // The evening device left the windows within its presence and tracker times; the rest of the night costs no tick.
  const ticks = metric(metrics, 'instore_ticks_total') - eveningTicks
  assert.ok(ticks < 400, `${ticks} ticks for a night`)
})

test('a sensor whose clock runs an hour ahead is refused with a reason and does not make the others late', () => {
  const { p, positions, metrics } = pipeline()
  const msgs = stream(T0, 30, 'tag:steady')
  const ahead = [...site.sensors.keys()][0]
  msgs.forEach((m, i) => {
    p.handle(m.topic, m.payload)
    if (i % 40 === 0) {
      const ts = T0 + i * 60 + HOUR
      p.handle(`instore/${site.storeId}/sensors/${ahead}/readings`, Buffer.from(JSON.stringify({ ts, readings: [{ ts, t: 'ble', id: 'tag:steady', rssi: -70 }] })))
    }
  })
  assert.ok(metric(metrics, 'instore_rejected_total', '{reason="clock_ahead"}') > 0, 'refusals counted')
  assert.equal(metric(metrics, 'instore_rejected_total', '{reason="late"}'), 0, 'no reading of the other sensors became late')
  const last = positions.filter(q => q.subject === 'tag:steady').pop()
  assert.ok(last !== undefined && last.ts > T0 + 20_000 && last.ts < T0 + 40_000, JSON.stringify(last))
})

test('a store that wakes up: every sensor jumps ahead together and the clock follows at once', () => {
  const { p, positions, metrics } = pipeline()
  for (const m of stream(T0, 10, 'tag:a')) p.handle(m.topic, m.payload)
  for (const m of stream(T0 + 2 * HOUR, 10, 'tag:b')) p.handle(m.topic, m.payload)
  assert.equal(metric(metrics, 'instore_rejected_total', '{reason="clock_ahead"}'), 0)
  assert.ok(positions.filter(q => q.subject === 'tag:b').length >= 5)
})

for (const slice of [1, 3, 50]) {
  test(`work cut into slices of ${slice} ticks, messages arriving in between, gives the output of one go`, () => {
    const msgs = [...stream(T0, 15, 'tag:x'), ...stream(T0 + 9 * HOUR, 15, 'tag:y', 25, 9), ...stream(T0 + 9 * HOUR + 15_000, 5, null)]
    const whole = pipeline()
    for (const m of msgs) whole.p.handle(m.topic, m.payload)
    const sliced = pipeline()
    for (const m of msgs) {
      sliced.p.take(m.topic, m.payload)
      sliced.p.work(slice)
    }
    while (!sliced.p.work(slice));
    assert.deepEqual(sliced.positions, whole.positions)
    assert.ok(whole.positions.length > 20)
  })
}

test('a tick that throws is counted and skipped; the ticks after it run', () => {
  const { p, positions, metrics } = pipeline()
  const tick = p.tick.bind(p)
  let calls = 0
  p.tick = (t: number) => {
    if (calls++ === 5) throw new Error('stale state')
    tick(t)
  }
  for (const m of stream(T0, 20, 'tag:z')) p.handle(m.topic, m.payload)
  assert.equal(metric(metrics, 'instore_tick_errors_total'), 1)
  assert.equal(p.tickErrors, 1)
  assert.ok(positions.filter(q => q.ts > T0 + 10_000).length > 5, 'positions after the failed tick')
})

test('a reading stamped later than its batch: the device is never placed before that reading', () => {
  const { p, positions } = pipeline()
  for (const m of stream(T0, 20, 'tag:steady')) p.handle(m.topic, m.payload)
  // One sensor's batch at T+21 s carries a reading stamped 9 minutes later; the store streams on.
  const late = T0 + 21_000 + 9 * 60_000
  const s = [...site.sensors.values()][0]
  p.handle(`instore/${site.storeId}/sensors/${s.id}/readings`, Buffer.from(JSON.stringify({ ts: T0 + 21_000, readings: [{ ts: late, t: 'ble', id: 'tag:ahead', rssi: -60 }] })))
  // The store is quiet until then; at that time the other sensors confirm it (a sensor alone would be running ahead).
  for (const m of stream(late, 600, null)) p.handle(m.topic, m.payload)
  // A position is published `reportLagMs` behind the tick it was estimated at (the smoother's lag);
  // a tick may use readings up to one window ahead of it, as in any steady stream.
  const o = trackerOptions(site)
  const early = positions.filter(q => q.subject === 'tag:ahead' && q.ts + o.reportLagMs + o.window.windowMs < late)
  assert.equal(early.length, 0, `${early.length} positions estimated before the reading, the first at T+${(early[0]?.ts ?? T0) - T0} ms`)
  assert.ok(
    positions.some(q => q.subject === 'tag:ahead'),
    'placed once heard'
  )
})

test('a gap after a burst of Wi-Fi addresses: a slice stops once its positions are spent, and the output is that of one go', () => {
  const s = [...site.sensors.values()][0]
  const burst: Msg[] = []
  for (let i = 0; i < 1000; i++) {
    const ts = T0 + i
    const mac = `da:a1:19:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:01`
    burst.push({ topic: `instore/${site.storeId}/sensors/${s.id}/readings`, payload: Buffer.from(JSON.stringify({ ts, readings: [{ ts, t: 'wifi', mac, rssi: -70 }] })) })
  }
  // Then a gap of 100 s inside the Wi-Fi presence time: every tick repeats every address.
  const msgs = [...burst, ...stream(T0 + 100_000, 3, null)]
  const whole = pipeline()
  for (const m of msgs) whole.p.handle(m.topic, m.payload)
  const sliced = pipeline()
  const perSlice: number[] = []
  const slice = (): boolean => {
    const before = sliced.positions.length
    const idle = sliced.p.work(50, 256)
    perSlice.push(sliced.positions.length - before)
    return idle
  }
  for (const m of msgs) {
    sliced.p.take(m.topic, m.payload)
    slice()
  }
  while (!slice());
  assert.ok(whole.positions.length > 50_000, `${whole.positions.length} positions`)
  // A slice may finish the tick that spent its budget: at most one tick (1,000 addresses) past it.
  assert.ok(Math.max(...perSlice) <= 256 + 1000, `a slice published ${Math.max(...perSlice)} positions`)
  assert.equal(sliced.positions.length, whole.positions.length)
  assert.deepEqual(sliced.positions, whole.positions)
})
