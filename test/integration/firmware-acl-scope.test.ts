// A sensor's firmware grants stay inside its own topics (issue 26, hostile test): a Theengs
// gateway writes only its own publish_topic and LWT, never a sibling's readings nor the native tree;
// roots inside the native tree or nested in each other are refused at start-up.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { firmwareAcl, mosquittoAcl, topicMatches } from '../../gateway/ingest/firmware-acl.ts'
import { DEFAULT_FOREIGN, foreignProblems, type ForeignConfig } from '../../gateway/ingest/foreign.ts'
import { hashPassword } from '../../gateway/io/broker-auth.ts'
import { loadSiteFile } from '../../shared/site.ts'
import { startGateway } from '../helpers/gateway.ts'
import { ROOT } from '../helpers/run.ts'

const TWO: ForeignConfig = {
  ...DEFAULT_FOREIGN,
  theengs: [
    { topic: 'theengs/b3', sensor: 'b3' },
    { topic: 'theengs/b4', sensor: 'b4' }
  ]
}

const CASES: Array<{ topic: string; allowed: boolean }> = [
  { topic: 'theengs/b3/6087574C9BC2', allowed: true },
  { topic: 'theengs/LWT', allowed: true },
  { topic: 'theengs/b4/6087574C9BC2', allowed: false },
  { topic: 'theengs/anything/deep/x', allowed: false },
  { topic: 'theengs/b3/x/y', allowed: false },
  { topic: 'instore/boutique-1/positions/x', allowed: false }
]

const acl = firmwareAcl('theengs', ['b3'], TWO, ['theengs/b3'])
for (const c of CASES) {
  test(`Theengs b3 (topics theengs/b3, theengs/b4) ${c.allowed ? 'may' : 'may not'} publish ${c.topic}`, () => {
    assert.equal(
      acl.publish.some(p => topicMatches(p, c.topic)),
      c.allowed,
      acl.publish.join(' ')
    )
  })
}

test('the Mosquitto ACL rendered for a Theengs gateway grants no wildcard over its parent topic', () => {
  const text = mosquittoAcl('b3', acl)
  assert.doesNotMatch(text, /^topic write theengs\/#$/m)
  assert.match(text, /^topic write theengs\/b3\/\+$/m)
})

const PROBLEMS: Array<{ name: string; c: ForeignConfig; expect: RegExp[] }> = [
  {
    name: 'a Theengs topic under the native prefix',
    c: { ...DEFAULT_FOREIGN, theengs: [{ topic: 'instore/tg', sensor: 'b3' }] },
    expect: [/'instore\/tg' overlaps the gateway's own topics/]
  },
  { name: 'the native prefix as OpenMQTTGateway root', c: { ...DEFAULT_FOREIGN, omg: 'instore' }, expect: [/OpenMQTTGateway root 'instore' overlaps/] },
  { name: 'an ESPresense root above the native prefix', c: { ...DEFAULT_FOREIGN, espresense: 'instore' }, expect: [/espresense root 'instore' overlaps/] },
  {
    name: 'nested Theengs topics, and one on the ESPresense root',
    c: {
      ...DEFAULT_FOREIGN,
      theengs: [
        { topic: 'tg', sensor: 'b3' },
        { topic: 'tg/b4', sensor: 'b4' },
        { topic: 'espresense/x', sensor: 'b5' }
      ]
    },
    expect: [/'tg' and 'tg\/b4' overlap/, /'espresense\/x' overlaps the espresense root/]
  },
  { name: 'the same root for ESPresense and OpenMQTTGateway', c: { ...DEFAULT_FOREIGN, espresense: 'home' }, expect: [/both 'home'/] }
]

const site = loadSiteFile(join(ROOT, 'sites/boutique.site.json'))
for (const p of PROBLEMS) {
  test(`foreign roots refused: ${p.name}, every problem listed`, () => {
    const got = foreignProblems(p.c, site, 'instore')
    for (const e of p.expect)
      assert.ok(
        got.some(g => e.test(g)),
        got.join('; ')
      )
  })
}

test('the defaults and sibling Theengs topics pass', () => {
  assert.deepEqual(foreignProblems(TWO, site, 'instore'), [])
  assert.deepEqual(foreignProblems({ ...DEFAULT_FOREIGN, theengs: [{ topic: 'home/TheengsGateway/BTtoMQTT', sensor: 'b3' }] }, site, 'instore'), [])
})

test('on the embedded broker a Theengs sensor cannot write the native tree even with a root under it', { timeout: 15_000 }, async () => {
  const auth = { sensors: { b3: hashPassword('pw-b3') }, readers: { r: hashPassword('pw-r') }, firmware: { b3: 'theengs' as const } }
  const g = await startGateway({ clock: 'wall', auth, foreign: { ...DEFAULT_FOREIGN, theengs: [{ topic: 'instore/tg', sensor: 'b3' }] } })
  const reader = await mqtt.connectAsync(g.mqttUrl, { username: 'r', password: 'pw-r', reconnectPeriod: 0 })
  const b3 = await mqtt.connectAsync(g.mqttUrl, { username: 'b3', password: 'pw-b3', reconnectPeriod: 0 })
  try {
    const got: string[] = []
    reader.on('message', t => got.push(t))
    await reader.subscribeAsync('instore/boutique-1/positions/#')
    const closed = new Promise<void>(resolve => b3.once('close', () => resolve()))
    b3.publish('instore/boutique-1/positions/fake', '{}', { qos: 1 })
    await closed // aedes closes a client that publishes where it may not
    const m = await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
    assert.equal(/instore_broker_auth_total\{result="deniedPublish"\} (\d+)/.exec(m)?.[1], '1')
    assert.deepEqual(got, [])
  } finally {
    reader.end(true)
    b3.end(true)
    await g.stop()
  }
})
