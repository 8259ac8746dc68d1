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

interface Batch { ts: number, readings: Array<{ ts: number, t: string, id?: string, mac?: string, rssi: number }> }

test('a replay through a real aedes broker arrives complete and in order', async () => {
  const broker = await startBroker({ port: 0 })
  const sub = await mqtt.connectAsync(broker.url)
  try {
    const { trace, devices } = await makeTrace('boutique', { durationS: 60 })
    // App phones go out as the EIDs they advertise at that moment, never as their stable subject.
    const onAir = advertiser(devices)
    const expected = new Map<string, string[]>()
    let heartbeats = 0
    for (const l of readFileSync(trace, 'utf8').trim().split('\n').map(s => JSON.parse(s) as TraceLine)) {
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
    late.on('message', (topic, payload) => { if (payload.toString() === 'online') online.add(topic.split('/')[3]) })
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
    sub.on('message', topic => { if (topic.includes('/sensors/')) stores.add(topic.split('/')[1]) })
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
  assert.deepEqual(lines.map(l => l.ts), [1, 2])
  const bad = join(dir, 'bad.jsonl')
  writeFileSync(bad, '{"ts": 1, "store": "s", "sensor": "r", "heartbeat": true}\n{nope\n')
  await assert.rejects(async () => { for await (const l of readJsonLines(bad)) lines.push(l) }, /bad\.jsonl:2: not JSON/)
})
