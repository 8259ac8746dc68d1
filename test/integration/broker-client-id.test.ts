// A client id belongs to the username that holds it (connected or with a stored session): another
// login cannot knock a sensor off with it, nor inherit its session and queued messages. The
// outside tester's repro: a phone reusing ESPresense's public client id `espresense-<room>`.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { hashPassword } from '../../gateway/io/broker-auth.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { ROOT } from '../helpers/run.ts'
import type { Gateway } from '../../gateway/gateway.ts'

let g: Gateway
const PW = 'password1'
const ID = 'espresense-front-left'
const SET = 'espresense/rooms/front-left/max_distance/set'
const metrics = async () => await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
const taken = async () => Number(/instore_broker_auth_total\{result="clientIdTaken"\} (\d+)/.exec(await metrics())?.[1] ?? 0)
const connect = async (username: string, clientId: string, clean = true): Promise<MqttClient> =>
  await mqtt.connectAsync(g.mqttUrl, { username, password: PW, clientId, clean, reconnectPeriod: 0 })

before(async () => {
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8'))
  for (const f of site.features) if (f.properties.id === 'b1') f.properties.aliases = ['front-left']
  const sitePath = join(mkdtempSync(join(tmpdir(), 'clientid-')), 'site.json')
  writeFileSync(sitePath, JSON.stringify(site))
  const h = hashPassword(PW)
  g = await startGateway({ auth: { sensors: { b1: h }, firmware: { b1: 'espresense' }, phones: { 'phone:dev1': h }, readers: { dashboard: h } } }, sitePath)
})
after(async () => {
  await g.stop()
})

test("another username cannot take a connected sensor's client id: refused, counted, the sensor stays", async () => {
  const b1 = await connect('b1', ID, false)
  let dropped = false
  b1.on('close', () => {
    dropped = true
  })
  await b1.subscribeAsync('espresense/rooms/front-left/+/set', { qos: 1 })
  await assert.rejects(connect('phone:dev1', ID, false), /Identifier rejected/)
  assert.equal(await taken(), 1)
  // Still connected: a publish round trip through the broker works.
  const op = await connect('b1', 'operator')
  const got = new Promise<string>(resolve => b1.once('message', (_t, p) => resolve(p.toString())))
  await op.publishAsync(SET, '5', { qos: 1 })
  assert.equal(await got, '5')
  assert.equal(dropped, false)
  await op.endAsync()
  await b1.endAsync()
})

test("a sensor's stored session and queued commands stay its own; the sensor gets them back", async () => {
  // The session from the test above is stored (clean: false); a command is queued for it.
  const op = await connect('b1', 'operator')
  await op.publishAsync(SET, '7', { qos: 1 })
  await op.endAsync()
  const before = await taken()
  await assert.rejects(connect('phone:dev1', ID, false), /Identifier rejected/)
  await assert.rejects(connect('dashboard', ID, true), /Identifier rejected/)
  assert.equal(await taken(), before + 2)
  const got: string[] = []
  const b1 = mqtt.connect(g.mqttUrl, { username: 'b1', password: PW, clientId: ID, clean: false, reconnectPeriod: 0 })
  b1.on('message', (_t, p) => got.push(p.toString()))
  await waitFor(() => got.includes('7'), 5000, 'the queued command, delivered to the sensor')
  await b1.endAsync()
})

test('a clean session frees its client id when it closes; a username may take its own over', async () => {
  const a = await connect('dashboard', 'shared-id')
  const again = await connect('dashboard', 'shared-id') // the same username: the usual takeover
  await waitFor(() => !a.connected, 5000, 'the first connection replaced')
  await again.endAsync()
  await waitFor(
    async () =>
      await connect('phone:dev1', 'shared-id').then(
        async c => (await c.endAsync(), true),
        () => false
      ),
    5000,
    'the id freed'
  )
})

test("a phone cannot take a sensor's client id while the sensor is away (the outside tester's repro); the sensor reconnects", async () => {
  const id = 'espresense-blip'
  const b1 = await connect('b1', id)
  await b1.endAsync()
  const before = await taken()
  // The clean session freed its slot, but the id stays the sensor's.
  await assert.rejects(connect('phone:dev1', id), /Identifier rejected/)
  await assert.rejects(connect('dashboard', id), /Identifier rejected/)
  assert.equal(await taken(), before + 2)
  for (let i = 0; i < 3; i++) await (await connect('b1', id)).endAsync()
})

test('a sensor takes its client id back from a phone that got it first; the phone cannot take it again', async () => {
  const id = 'espresense-first-phone'
  const phone = await connect('phone:dev1', id)
  const closed = new Promise<void>(resolve => phone.once('close', () => resolve()))
  const b1 = await connect('b1', id, false)
  await closed
  assert.equal(b1.connected, true)
  await assert.rejects(connect('phone:dev1', id), /Identifier rejected/)
  await b1.endAsync()
  await assert.rejects(connect('phone:dev1', id), /Identifier rejected/)
})
