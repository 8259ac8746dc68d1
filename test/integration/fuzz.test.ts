import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ajv } from 'ajv'
import mqtt from 'mqtt'
import Database from 'better-sqlite3'
import { Rng } from '../../shared/rng.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { ROOT } from '../helpers/run.ts'
import { api } from '../helpers/procs.ts'
import { operations, fuzzOperation, type Finding } from '../helpers/api-fuzz.ts'
import { buildServer } from '../../server/app.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'

const T = 1764000000000
const SENSORS = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8', 'b9']

function mutate(r: Rng, v: unknown, depth = 0): unknown {
  if (depth > 3 || r.chance(0.3)) {
    return r.pick<unknown>([
      null,
      true,
      -1e308,
      1e308,
      NaN,
      '',
      'x'.repeat(r.int(0, 300)),
      -200,
      12,
      '-60',
      [],
      {},
      1764000000,
      'da:a1:19:00:11:22',
      '\u0000',
      '../../etc',
      '#',
      'app:+/#'
    ])
  }
  if (Array.isArray(v)) return r.chance(0.2) ? Array.from({ length: r.int(0, 3000) }, () => v[0]) : v.map(x => mutate(r, x, depth + 1))
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) if (!r.chance(0.15)) o[r.chance(0.05) ? k + '_' : k] = r.chance(0.5) ? mutate(r, x, depth + 1) : x
    return o
  }
  return v
}

test('fuzz: random and mutated payloads on every ingest topic, oversized ones, a flood; no crash, honest sensors still served, every rejection counted', {
  timeout: 120_000
}, async t => {
  const g = await startGateway()
  const r = new Rng(77)
  const fuzzer = await mqtt.connectAsync(g.mqttUrl)
  const honest = await mqtt.connectAsync(g.mqttUrl)
  const positions: number[] = []
  honest.on('message', () => positions.push(Date.now()))
  await honest.subscribeAsync('instore/boutique-1/positions/tag:honest01')
  const valid = {
    ts: T,
    readings: [
      { t: 'ble', id: 'tag:x1', rssi: -60, ts: T },
      { t: 'wifi', mac: 'da:a1:19:00:11:22', rssi: -70, seq: 5, ch: 6 }
    ]
  }
  const topics = [
    ...SENSORS.map(s => `instore/boutique-1/sensors/${s}/readings`),
    'instore/boutique-1/sensors/b1/status',
    'instore/boutique-1/sensors/zz/readings',
    'instore/other/sensors/b1/readings',
    'instore/boutique-1/devices/p1/scans',
    'espresense/devices/x/b1',
    'home/b2/BTtoMQTT/AABBCCDDEEFF',
    'instore/boutique-1/sensors/b1/readings/extra',
    'instore/boutique-1/sensors'
  ]
  let tried = 0
  // A protocol violation (publishing to a wildcard) closes that client's connection, nobody else's.
  const rude = await mqtt.connectAsync(g.mqttUrl, { reconnectPeriod: 0 })
  const closed = new Promise<void>(resolve => rude.once('close', () => resolve()))
  rude.publish('instore/boutique-1/devices/+/scans', '{}')
  await closed
  await rude.endAsync(true)
  try {
    for (let s = 0; s < 60; s++) {
      // The honest sensors: a shopper standing still, heard every second.
      for (const sn of SENSORS) {
        await honest.publishAsync(
          `instore/boutique-1/sensors/${sn}/readings`,
          JSON.stringify({ ts: T + s * 1000 + 500, readings: [{ t: 'ble', id: 'tag:honest01', rssi: -65 - SENSORS.indexOf(sn), ts: T + s * 1000 + 100 }] })
        )
      }
      for (let k = 0; k < 60; k++) {
        const topic = r.pick(topics)
        const kind = r.int(0, 5)
        const payload =
          kind === 0
            ? Buffer.from(Array.from({ length: r.int(0, 400) }, () => r.int(0, 256)))
            : kind === 1
              ? Buffer.alloc(r.int(256 * 1024, 400 * 1024), 'a')
              : kind === 2
                ? JSON.stringify(mutate(r, valid))
                : kind === 3
                  ? JSON.stringify(mutate(r, { ts: T, beacons: [{ id: 'ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:1', rssi: -70 }] }))
                  : JSON.stringify(mutate(r, { id: 'iBeacon:x', rssi: -60, txpower: -59, uuid: 'u', major: 1, minor: 2 }))
        fuzzer.publish(topic, payload, { qos: 0 })
        tried++
      }
      // A flood from one client between seconds.
      if (s % 20 === 10)
        for (let k = 0; k < 2000; k++) {
          fuzzer.publish('instore/boutique-1/sensors/b1/readings', '{"readings": [', { qos: 0 })
          tried++
        }
    }
    await fuzzer.publishAsync('instore/boutique-1/sensors/b1/readings', JSON.stringify({ ts: T + 70_000, readings: [] }), { qos: 1 })
    const metrics = async () => await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
    await waitFor(async () => /instore_readings_total\{source="ble"\} [1-9]/.test(await metrics()), 10_000, 'honest readings')
    await waitFor(() => positions.length >= 50, 20_000, 'positions for the honest shopper')
    const m = await metrics()
    assert.doesNotMatch(m, /instore_internal_errors_total [1-9]/)
    const rejected = Object.fromEntries([...m.matchAll(/instore_rejected_total\{reason="(\w+)"\} (\d+)/g)].map(x => [x[1], Number(x[2])]))
    const total = Object.values(rejected).reduce((a, b) => a + b, 0)
    assert.ok(total > tried * 0.5, `only ${total} rejections counted for ${tried} hostile messages`)
    // The tally goes to the test's output, not into the checkout.
    t.diagnostic(JSON.stringify({ tried, counted: total, rejected, crashes: 0, honestPositions: positions.length }))
  } finally {
    await fuzzer.endAsync(true)
    await honest.endAsync(true)
    await g.stop()
  }
  const db = new Database(join(g.o.dataDir, 'gateway.sqlite'), { readonly: true })
  assert.equal((db.pragma('integrity_check') as Array<{ integrity_check: string }>)[0].integrity_check, 'ok')
  db.close()
})

test('API fuzz: every operation of the OpenAPI document, with and without valid tokens: no 5xx, no undeclared status, no answer breaking its schema', {
  timeout: 300_000
}, async () => {
  const ADMIN = 'adm_fuzz_test'
  const { app } = await buildServer(
    await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'apifuzz-')), log: silentLogger, adminToken: ADMIN, limits: { registrationsPerWindow: 1e6, authFailuresPerWindow: 1e6 } })
  )
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  try {
    const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as Record<string, unknown>
    const gw = (await api<{ gatewayToken: string }>(`${url}/v1/stores`, ADMIN, 'POST', { site: { ...site, storeId: 's1' } })).body.gatewayToken
    await api(`${url}/v1/stores`, ADMIN, 'POST', { site: { ...site, storeId: 's2' } })
    const mgr = (await api<{ token: string }>(`${url}/v1/operators`, ADMIN, 'POST', { role: 'manager', stores: ['s1'] })).body.token
    const spare = (await api<{ id: string }>(`${url}/v1/operators`, ADMIN, 'POST', { role: 'manager', stores: ['s1'] })).body.id
    await api(`${url}/v1/campaigns`, ADMIN, 'POST', { id: 'c1', stores: ['s1'], when: { event: 'sector.enter' }, content: { title: 't' } })
    // The registration body changes with server-issued identities: whichever this server takes.
    let dev = await api<{ deviceId: string; token: string }>(`${url}/v1/devices`, null, 'POST', { consent: { presence: true, marketing: true } })
    if (dev.status !== 201)
      dev = await api<{ deviceId: string; token: string }>(`${url}/v1/devices`, null, 'POST', { bleId: 'app:fuzz0001', consent: { presence: true, marketing: true } })
    assert.equal(dev.status, 201)
    const doc = (await api<Parameters<typeof operations>[0]>(`${url}/docs`, null)).body
    const ops = operations(doc)
    assert.ok(ops.length >= 19, `${ops.length} operations documented`)
    // Auth declared only where required; SSE routes as text/event-stream.
    for (const op of ops) {
      const anonymous = op.method === 'POST' && op.path === '/v1/devices'
      assert.equal((op.security ?? []).length === 0, anonymous, `${op.method} ${op.path}: security ${JSON.stringify(op.security)}`)
      assert.ok(op.responses['500'] && (anonymous || (op.responses['401'] && op.responses['403'])), `${op.method} ${op.path}: error statuses`)
    }
    assert.ok(ops.filter(op => op.responses['200']?.content?.['text/event-stream']).length >= 2, 'SSE routes as text/event-stream')
    const pool = ['s1', 's2', 'c1', 'boutique', dev.body.deviceId, spare, 'app:fuzz0001', 'women', '2026-11-01', '08:00', 'x']
    const auth = { none: null, bad: 'adm_nope', admin: ADMIN, manager: mgr, gateway: gw, device: dev.body.token }
    const ajv = new Ajv({ strict: false, allErrors: false })
    const findings: Finding[] = []
    const seen: Record<string, Record<number, number>> = {}
    for (const op of ops) {
      const r = await fuzzOperation(url, op, { rng: new Rng(`${op.method} ${op.path}`), auth, pool, tries: 12, ajv })
      findings.push(...r.findings)
      seen[`${op.method} ${op.path}`] = Object.fromEntries(r.statuses)
    }
    // The tally goes to a temporary folder, never into the checkout.
    const tally = join(mkdtempSync(join(tmpdir(), 'api-fuzz-')), 'api-fuzz.json')
    writeFileSync(tally, JSON.stringify({ operations: ops.length, statuses: seen, findings }, null, 2))
    assert.deepEqual(findings.slice(0, 10), [], `${findings.length} findings (all in ${tally})`)
  } finally {
    await app.close()
  }
})
