// Each upstream format's fixture (test/fixtures/, sources named inside) from topic to position,
// identity and visit, through a real gateway; then every output, log line and SQLite row is
// scanned for the raw MAC addresses the sensors sent.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import Database from 'better-sqlite3'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { ROOT } from '../helpers/run.ts'
import { Rng } from '../../shared/rng.ts'
import { SubjectHasher, isMac } from '../../gateway/ingest/subjects.ts'
import { classifyBleId } from '../../gateway/ingest/sensor-ids.ts'
import { createLogger } from '../../shared/log.ts'
import type { ForeignConfig } from '../../gateway/ingest/foreign.ts'

interface Fx {
  case: string
  topic: string
  payload: Record<string, unknown>
  subject?: string
  subjectOfMac?: string
  anonymous?: boolean
  visits?: boolean
  beacon?: string
  ignored?: boolean
}
const fixture = (name: string) => JSON.parse(readFileSync(join(ROOT, 'test/fixtures', name), 'utf8')) as { messages: Fx[] }
const T = 1764000000000
const STORE = 'instore/boutique-1'
const hasher = new SubjectHasher('test-secret')
const SPOT = { x: 4.5, y: 8.5, z: 1.2 } // the Women sector

function sitePath(): string {
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8'))
  let n = 0
  for (const f of site.features) {
    if (f.properties.kind !== 'sensor') continue
    f.properties.aliases = [`esp-${f.properties.id}`, `OMG_${f.properties.id}`]
    f.properties.mac = `e0:55:3d:00:00:${(++n).toString(16).padStart(2, '0')}`
  }
  const p = join(mkdtempSync(join(tmpdir(), 'fixtures-')), 'site.json')
  writeFileSync(p, JSON.stringify(site))
  return p
}

type Format = 'espresense' | 'openmqttgateway' | 'theengs'
/** The fixture's topic as this sensor would send it (each sensor has its own room or gateway name). */
function topicFor(f: Format, topic: string, sensor: string): string {
  if (f === 'espresense') return topic.replace(/\/front-left$/, `/esp-${sensor}`)
  if (f === 'openmqttgateway') return topic.replace(/^home\/OMG_b1\//, `home/OMG_${sensor}/`)
  return topic.replace(/^home\/TheengsGateway\/BTtoMQTT\//, `home/TG_${sensor}/BTtoMQTT/`)
}

interface Run {
  outputs: Array<[string, string]>
  logs: string[]
  rows: string[]
  positions: Map<string, number>
  enters: Set<string>
}

/** Runs a gateway on event time, sends `send` once a second for `seconds`, then collects everything it produced. */
async function run(
  send: (c: mqtt.MqttClient, sensor: string, rssi: number, ts: number, s: number) => Promise<void>,
  seconds: number,
  over: { foreign?: ForeignConfig } = {}
): Promise<Run> {
  const logs: string[] = []
  const path = sitePath()
  const sensors = JSON.parse(readFileSync(path, 'utf8'))
    .features.filter((f: { properties: { kind: string } }) => f.properties.kind === 'sensor')
    .map((f: { properties: { id: string } }) => f.properties.id) as string[]
  const foreign = over.foreign ?? { espresense: 'espresense', omg: 'home', theengs: sensors.map(id => ({ topic: `home/TG_${id}/BTtoMQTT`, sensor: id })) }
  const g = await startGateway(
    {
      foreign,
      log: createLogger({
        level: 'debug',
        write: l => {
          logs.push(l)
        }
      })
    },
    path
  )
  const c = await mqtt.connectAsync(g.mqttUrl)
  const outputs: Array<[string, string]> = []
  c.on('message', (t, p) => {
    if (!t.startsWith(`${STORE}/sensors/`)) outputs.push([t, p.toString()])
  })
  await c.subscribeAsync(`${STORE}/#`, { qos: 1 })
  const rng = new Rng(5)
  const dataDir = g.o.dataDir
  try {
    for (let s = 0; s < seconds; s++) {
      const ts = T + s * 1000
      for (const sn of g.o.site.sensors.values()) {
        await c.publishAsync(`${STORE}/sensors/${sn.id}/readings`, JSON.stringify({ ts, readings: [] }), { qos: 1 })
        const rssi = Math.round(-59 - 22 * Math.log10(Math.hypot(SPOT.x - sn.x, SPOT.y - sn.y, SPOT.z - sn.z)) + rng.normal(0, 2))
        await send(c, sn.id, rssi, ts, s)
      }
    }
    // Time moves on with nobody heard: visits close.
    for (let s = seconds; s < seconds + 90; s += 5) await c.publishAsync(`${STORE}/sensors/b1/readings`, JSON.stringify({ ts: T + s * 1000, readings: [] }), { qos: 1 })
    // Occupancy goes out on every change and on each round 10 s: the last heartbeat lands on one.
    const end = T + Math.ceil((seconds + 95) / 10) * 10_000
    await c.publishAsync(`${STORE}/sensors/b1/readings`, JSON.stringify({ ts: end + 600, readings: [] }), { qos: 1 })
    await waitFor(() => outputs.some(([t, p]) => t.endsWith('/occupancy') && (JSON.parse(p) as { ts: number }).ts >= end - 15_000), 20_000, 'event time to move on')
    await waitFor(() => outputs.some(([t]) => t.includes('/events/shop.exit')) || !outputs.some(([t]) => t.includes('/events/shop.enter')), 10_000, 'visits to close')
  } finally {
    await c.endAsync()
    await g.stop()
  }
  const rows: string[] = []
  for (const file of readdirSync(dataDir).filter(f => f.endsWith('.sqlite') || f.endsWith('.db'))) {
    const db = new Database(join(dataDir, file), { readonly: true })
    for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>) {
      for (const row of db.prepare(`SELECT * FROM "${name}"`).all()) rows.push(`${name} ${JSON.stringify(row)}`)
    }
    db.close()
  }
  const positions = new Map<string, number>()
  const enters = new Set<string>()
  for (const [t, p] of outputs) {
    if (t.startsWith(`${STORE}/positions/`)) {
      const s = t.slice(`${STORE}/positions/`.length)
      positions.set(s, (positions.get(s) ?? 0) + 1)
    }
    if (t === `${STORE}/events/shop.enter`) enters.add((JSON.parse(p) as { subject: string }).subject)
  }
  return { outputs, logs, rows, positions, enters }
}

/** Every address the fixtures carry, in every spelling a sensor uses. */
function rawMacs(fx: Fx[]): RegExp {
  const hex = new Set<string>()
  const add = (mac: string) => hex.add(mac.replace(/[:-]/g, '').toLowerCase())
  for (const m of fx) {
    const last = m.topic.slice(m.topic.lastIndexOf('/') + 1)
    if (isMac(last)) add(last)
    if (typeof m.payload.mac === 'string') add(m.payload.mac)
    const id = typeof m.payload.id === 'string' ? classifyBleId(m.payload.id) : undefined
    if (id?.kind === 'mac') add(id.mac)
  }
  assert.ok(hex.size > 0)
  const alts = [...hex].map(h => h.match(/../g)?.join('[:-]?') ?? h)
  return new RegExp(alts.join('|'), 'i')
}

function assertNoMacs(r: Run, fx: Fx[], what: string): void {
  const re = rawMacs(fx)
  for (const [t, p] of r.outputs) {
    assert.doesNotMatch(t, re, `${what}: topic ${t}`)
    assert.doesNotMatch(p, re, `${what}: payload on ${t}`)
  }
  for (const l of r.logs) assert.doesNotMatch(l, re, `${what}: log line ${l}`)
  for (const row of r.rows) assert.doesNotMatch(row, re, `${what}: SQLite ${row}`)
  assert.ok(r.rows.length > 0, 'the store has rows to scan')
}

function expectedSubject(m: Fx): string | undefined {
  return m.subject ?? (m.subjectOfMac ? hasher.hash(m.subjectOfMac) : undefined)
}

function assertFixture(r: Run, fx: Fx[], anonymous: (m: Fx) => string | undefined): void {
  for (const m of fx) {
    const subject = expectedSubject(m)
    if (subject) {
      assert.ok((r.positions.get(subject) ?? 0) > 10, `${m.case}: positions for ${subject} (got ${[...r.positions.keys()].join(', ')})`)
      if (m.visits) assert.ok(r.enters.has(subject), `${m.case}: a visit for ${subject}`)
    }
    if (m.anonymous) {
      const a = anonymous(m)
      assert.ok(a && (r.positions.get(a) ?? 0) > 10, `${m.case}: an anonymous device with positions`)
      assert.ok(a && !r.enters.has(a), `${m.case}: a class id never opens a visit`)
    }
    if (m.beacon) assert.ok(!r.positions.has(m.beacon), `${m.case}: the site's fixed beacon is not a shopper`)
  }
  for (const s of r.positions.keys()) assert.match(s, /^(h:[0-9a-f]{16}|ibeacon:[0-9a-f-]{36}:\d+:\d+|eddystone:[0-9a-f]{20}:[0-9a-f]{12})$/, 'every subject in contract form')
}

const withRssi = (p: Record<string, unknown>, rssi: number): string => JSON.stringify(p.rssi === undefined ? p : { ...p, rssi })

for (const [format, file] of [
  ['espresense', 'espresense.json'],
  ['openmqttgateway', 'openmqttgateway.json'],
  ['theengs', 'theengs-gateway.json']
] as const) {
  test(`${format} fixtures: topic → identity → positions and visits; no raw MAC anywhere`, { timeout: 120_000 }, async () => {
    const fx = fixture(file).messages
    const r = await run(async (c, sensor, rssi) => {
      for (const m of fx) await c.publishAsync(topicFor(format, m.topic, sensor), withRssi(m.payload, rssi), { qos: 1 })
    }, 45)
    assertFixture(r, fx, m => (typeof m.payload.mac === 'string' ? hasher.hash(m.payload.mac) : undefined))
    assertNoMacs(r, fx, format)
  })
}

test('one tag heard through ESPresense, OpenMQTTGateway and Theengs Gateway at once is one subject', { timeout: 120_000 }, async () => {
  const esp = fixture('espresense.json').messages[0]
  const omg = fixture('openmqttgateway.json').messages[0]
  const tg = fixture('theengs-gateway.json').messages[0]
  const r = await run(async (c, sensor, rssi) => {
    const n = Number(sensor.slice(1))
    const [f, m] = n <= 3 ? (['espresense', esp] as const) : n <= 6 ? (['openmqttgateway', omg] as const) : (['theengs', tg] as const)
    await c.publishAsync(topicFor(f, m.topic, sensor), withRssi(m.payload, rssi), { qos: 1 })
  }, 45)
  assert.deepEqual([...r.positions.keys()], ['ibeacon:e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4:1:7'])
  assert.ok(r.enters.has('ibeacon:e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4:1:7'))
})
