import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { startBroker } from '../../shared/broker.ts'
import { isReading, isHeartbeat, readJsonLines, type TraceLine } from '../../shared/trace.ts'
import { makeTrace } from '../helpers/sim.ts'
import { advertiser } from '../../simulators/replay.ts'
import { runBin } from '../helpers/run.ts'
import { startGateway } from '../helpers/gateway.ts'
import { evaluateEvents, defaultEvalOptions, type EventMsg } from '../../simulators/evaluate.ts'
import type { Truth } from '../../simulators/engine.ts'
import type { DevicesFileT } from '../../gateway/ingest/identity.ts'

interface Batch {
  ts: number
  readings: Array<{ ts: number; t: string; id?: string; mac?: string; rssi: number }>
}

test('a replay through a real aedes broker arrives complete and in order', async () => {
  const broker = await startBroker({ port: 0 })
  const sub = await mqtt.connectAsync(broker.url)
  try {
    const { trace, devices } = await makeTrace('boutique', { durationS: 60 })
    // App phones go out as the EIDs they advertise at that moment, never as their stable subject.
    const onAir = advertiser(devices)
    const expected = new Map<string, string[]>()
    let heartbeats = 0
    for (const l of readFileSync(trace, 'utf8')
      .trim()
      .split('\n')
      .map(s => JSON.parse(s) as TraceLine)) {
      if (isHeartbeat(l)) heartbeats++
      if (!isReading(l)) continue
      const arr = expected.get(l.sensor) ?? []
      arr.push(`${l.ts}|${l.id !== undefined ? onAir(l.id, l.ts) : l.mac}|${l.rssi}`)
      expected.set(l.sensor, arr)
    }
    const got = new Map<string, string[]>()
    let empty = 0
    sub.on('message', (topic, payload) => {
      const parts = topic.split('/')
      if (parts[4] === 'status') return
      const batch = JSON.parse(payload.toString()) as Batch
      if (batch.readings.length === 0) empty++
      const arr = got.get(parts[3]) ?? []
      for (const r of batch.readings) arr.push(`${r.ts}|${r.id ?? r.mac}|${r.rssi}`)
      got.set(parts[3], arr)
    })
    await sub.subscribeAsync('instore/+/sensors/+/#', { qos: 1 })
    const r = await runBin('instore-replay', ['--trace', trace, '--broker', broker.url])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const total = [...expected.values()].reduce((s, a) => s + a.length, 0)
    const deadline = Date.now() + 10_000
    while ([...got.values()].reduce((s, a) => s + a.length, 0) < total && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    for (const [sensor, arr] of expected) assert.deepEqual(got.get(sensor), arr, `sensor ${sensor}`)
    assert.equal(empty, heartbeats, 'every heartbeat arrives as an empty batch')
    // Sensor status is retained: a client that connects afterwards still sees every sensor online.
    const late = await mqtt.connectAsync(broker.url)
    const online = new Set<string>()
    late.on('message', (topic, payload) => {
      if (payload.toString() === 'online') online.add(topic.split('/')[3])
    })
    await late.subscribeAsync('instore/+/sensors/+/status')
    const until = Date.now() + 5000
    while (online.size < expected.size && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 20))
    await late.endAsync()
    assert.deepEqual([...online].sort(), [...expected.keys()].sort())
  } finally {
    await sub.endAsync()
    await broker.close()
  }
})

test('paced replay at N× real time takes about trace time / N', async () => {
  const broker = await startBroker({ port: 0 })
  try {
    const { trace } = await makeTrace('boutique', { durationS: 10 })
    const started = Date.now()
    const r = await runBin('instore-replay', ['--trace', trace, '--broker', broker.url, '--speed', '5'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    // 10 s of trace at 5×: at least ~2 s of wall time (an upper bound would be a timed test).
    assert.ok(Date.now() - started >= 1800)
  } finally {
    await broker.close()
  }
})

test('--store publishes a trace recorded under another store id to this one; an empty recording says what to check', async () => {
  const broker = await startBroker({ port: 0 })
  const sub = await mqtt.connectAsync(broker.url)
  try {
    const { trace, dir } = await makeTrace('boutique', { durationS: 20 })
    const stores = new Set<string>()
    sub.on('message', topic => {
      if (topic.includes('/sensors/')) stores.add(topic.split('/')[1])
    })
    await sub.subscribeAsync('instore/+/sensors/+/#', { qos: 1 })
    const r = await runBin('instore-replay', ['--trace', trace, '--broker', broker.url, '--store', 'elsewhere', '--record', join(dir, 'rec.jsonl'), '--settle', '200'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.deepEqual([...stores], ['elsewhere'])
    // Nothing answers on this bare broker: the replay says which stores it published to.
    assert.match(r.stdout, /the gateway published nothing.*"stores":\["elsewhere"\]/)
  } finally {
    await sub.endAsync()
    await broker.close()
  }
})

test('a trace file that starts with a byte-order mark reads; a line that is not JSON names its line number', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trace-'))
  const ok = join(dir, 'bom.jsonl')
  writeFileSync(ok, '\uFEFF{"ts": 1, "store": "s", "sensor": "r", "heartbeat": true}\n\n{"ts": 2, "store": "s", "sensor": "r", "heartbeat": true}\n')
  const lines: TraceLine[] = []
  for await (const l of readJsonLines(ok)) lines.push(l)
  assert.deepEqual(
    lines.map(l => l.ts),
    [1, 2]
  )
  const bad = join(dir, 'bad.jsonl')
  writeFileSync(bad, '{"ts": 1, "store": "s", "sensor": "r", "heartbeat": true}\n{nope\n')
  await assert.rejects(async () => {
    for await (const l of readJsonLines(bad)) lines.push(l)
  }, /bad\.jsonl:2: not JSON/)
})

/** Sensors silent overnight, heartbeats late in the morning, some sensors switched on late, one dropping out for a while. */
const QUIET = { heartbeatDelayS: 60, offShare: 0.3, onWithinS: 120, dropoutsPerDay: 1, dropoutS: [60, 180] as [number, number] }

interface Rec {
  topic: string
  msg: EventMsg & { id?: string }
}

/** Replays a trace into a fresh event-clock gateway; its recorded output and its metrics text. */
async function replayGateway(trace: string, out: string, devices: DevicesFileT, args: string[] = []): Promise<{ recs: Rec[]; metrics: string }> {
  const g = await startGateway({ campaigns: [], devices })
  let metrics = ''
  try {
    // The app phones advertise the EIDs of the simulator's keys; the gateway resolves them with the same file.
    const devicesPath = out + '.devices.json'
    writeFileSync(devicesPath, JSON.stringify(devices), { mode: 0o600 })
    // Output quiet for 5 s: a gateway starved of the CPU on a loaded machine can be quiet for over a second mid-trace.
    const r = await runBin('instore-replay', ['--trace', trace, '--broker', g.mqttUrl, '--record', out, '--settle', '5000', '--devices', devicesPath, ...args], {
      timeoutMs: 300_000
    })
    assert.equal(r.code, 0, r.stdout + r.stderr)
    metrics = g.metrics.text()
  } finally {
    await g.stop()
  }
  return {
    recs: readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .filter(l => l !== '')
      .map(l => JSON.parse(l) as Rec),
    metrics
  }
}

const metricValue = (text: string, series: string): number => Number(new RegExp(`^${series.replace(/[{}]/g, c => '\\' + c)} (\\S+)$`, 'm').exec(text)?.[1] ?? 0)

test('silent nights (no heartbeat, sensors off): every reading is processed, visits score as with a heartbeat each morning, nothing is back-dated', async () => {
  const { dir, trace, sim, devices } = await makeTrace('boutique', { days: 3, durationS: 600, seed: 4, quiet: QUIET })
  const lines = readFileSync(trace, 'utf8')
    .trim()
    .split('\n')
    .map(l => JSON.parse(l) as TraceLine)
  // The same trace with one heartbeat per sensor just before each morning's first reading.
  const sensors = [...new Set(lines.filter(isReading).map(l => l.sensor))]
  const withBeats: TraceLine[] = []
  let last = -Infinity
  for (const l of lines) {
    if (!('truth' in l) && l.ts - last > 3_600_000 && Number.isFinite(last))
      for (const s of sensors) withBeats.push({ ts: l.ts - 1, store: sim.truth.storeId, sensor: s, heartbeat: true })
    if (!('truth' in l)) last = l.ts
    withBeats.push(l)
  }
  const beatsTrace = join(dir, 'beats.jsonl')
  writeFileSync(beatsTrace, withBeats.map(l => JSON.stringify(l)).join('\n') + '\n')
  const quiet = await replayGateway(trace, join(dir, 'quiet.jsonl'), devices)
  const beats = await replayGateway(beatsTrace, join(dir, 'beats-rec.jsonl'), devices)
  const readings = lines.filter(isReading).length
  const taken = metricValue(quiet.metrics, 'instore_readings_total{source="ble"}') + metricValue(quiet.metrics, 'instore_readings_total{source="wifi"}')
  const takenBeats = metricValue(beats.metrics, 'instore_readings_total{source="ble"}') + metricValue(beats.metrics, 'instore_readings_total{source="wifi"}')
  assert.equal(
    taken,
    readings,
    'every reading taken: ' +
      takenBeats +
      ' with heartbeats\n' +
      quiet.metrics
        .split('\n')
        .filter(l => /rejected_total\{/.test(l) && !/ 0$/.test(l))
        .join('\n')
  )
  for (const reason of ['late', 'clock_ahead', 'overload']) assert.equal(metricValue(quiet.metrics, `instore_rejected_total{reason="${reason}"}`), 0, reason)
  const score = (recs: Rec[]) =>
    evaluateEvents(
      sim.truth as Truth,
      recs.filter(r => r.topic.includes('/events/')).map(r => r.msg),
      defaultEvalOptions
    ).visits
  const q = score(quiet.recs)
  const b = score(beats.recs)
  assert.ok(q.truth >= 10, `${q.truth} visits in the truth`)
  assert.ok(q.recall >= b.recall && q.recall >= 0.95, `visit recall ${q.recall} without heartbeats, ${b.recall} with`)
  assert.ok(q.falseVisits <= b.falseVisits, `${q.falseVisits} false visits without heartbeats, ${b.falseVisits} with`)
  // Positions only while the store is open (within the report lag of a window).
  const windows = sim.truth.windows
  const stray = quiet.recs.filter(r => r.topic.includes('/positions/') && !windows.some(([w0, w1]) => r.msg.ts >= w0 - 5000 && r.msg.ts <= w1 + 300_000))
  assert.equal(stray.length, 0, `${stray.length} positions at night, first ${JSON.stringify(stray[0]?.msg)}`)
})

test('a trace with silent nights gives the same positions and events at full speed and paced (nights cut short)', async () => {
  const { dir, trace, devices } = await makeTrace('boutique', { days: 2, durationS: 60, seed: 8, quiet: QUIET })
  const fast = await replayGateway(trace, join(dir, 'fast.jsonl'), devices)
  const slow = await replayGateway(trace, join(dir, 'slow.jsonl'), devices, ['--speed', '8', '--max-gap', '0.5'])
  const positions = (recs: Rec[]) => recs.filter(r => r.topic.includes('/positions/')).map(r => JSON.stringify(r.msg))
  const events = (recs: Rec[]) => recs.filter(r => r.topic.includes('/events/')).map(r => JSON.stringify({ ...r.msg, id: undefined }))
  assert.ok(positions(fast.recs).length > 50, `only ${positions(fast.recs).length} positions`)
  assert.deepEqual(positions(slow.recs), positions(fast.recs))
  assert.deepEqual(events(slow.recs), events(fast.recs))
})
