// Defects an outside tester reproduced on sensor input: blank number strings read as 0, a 0 dBm
// placeholder taken as a reading, V8's JSON error excerpt carrying part of a MAC into the log,
// Theengs topics under another sensor's OpenMQTTGateway name, Theengs Gateway's default
// subscription refused, and Meraki posts with no usable observation counted as ok.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { translate, aliasMap, num, foreignProblems, parseTheengs, DEFAULT_FOREIGN } from '../../gateway/ingest/foreign.ts'
import { hashPassword } from '../../gateway/io/broker-auth.ts'
import { loadSiteFile } from '../../shared/site.ts'
import type { Logger } from '../../shared/log.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { ROOT, runBin } from '../helpers/run.ts'

/** The boutique site with the tester's aliases: b1 `front-left`, b2 `OMG_b2`/`r2`, b3 `TheengsGateway`. */
function aliasedSite(): string {
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8'))
  const al: Record<string, string[]> = { b1: ['front-left'], b2: ['OMG_b2', 'r2'], b3: ['TheengsGateway'] }
  for (const f of site.features) if (f.properties.kind === 'sensor' && al[f.properties.id]) f.properties.aliases = al[f.properties.id]
  const path = join(mkdtempSync(join(tmpdir(), 'input-')), 'site.json')
  writeFileSync(path, JSON.stringify(site))
  return path
}
const sitePath = aliasedSite()
const site = loadSiteFile(sitePath)
const aliases = aliasMap(site)

test('num: blank and whitespace strings are no number', () => {
  const table: Array<[unknown, number | undefined]> = [
    ['', undefined],
    ['  ', undefined],
    ['\t', undefined],
    ['-70.00', -70],
    [-70, -70],
    ['0', 0],
    ['x', undefined],
    [null, undefined]
  ]
  for (const [v, want] of table) assert.equal(num(v), want, JSON.stringify(v))
})

const OMG = 'home/OMG_b2/BTtoMQTT/AABBCCDDEEFF'
const TRANSLATE: Array<{ topic: string; body: Record<string, unknown>; reject?: string; reading?: Record<string, unknown> }> = [
  { topic: OMG, body: { id: 'AA:BB:CC:DD:EE:FF', rssi: '' }, reject: 'bad_schema' },
  { topic: OMG, body: { id: 'AA:BB:CC:DD:EE:FF', rssi: '  ' }, reject: 'bad_schema' },
  { topic: OMG, body: { id: 'AA:BB:CC:DD:EE:FF', rssi: 0 }, reject: 'rssi_range' },
  { topic: OMG, body: { id: 'AA:BB:CC:DD:EE:FF', rssi: '-0.2' }, reject: 'rssi_range' },
  { topic: OMG, body: { id: 'AA:BB:CC:DD:EE:FF', rssi: 3 }, reject: 'rssi_range' },
  // Blank major/minor: no iBeacon, the device by its address.
  { topic: OMG, body: { id: 'AA:BB:CC:DD:EE:FF', rssi: -70, uuid: 'e5b9e3e52aaa4b32b5d59a5e1ab1f0b4', major: '', minor: ' ' }, reading: { id: 'AA:BB:CC:DD:EE:FF' } },
  { topic: 'espresense/devices/x/front-left', body: { id: 'd4f12e3a1b2c', rssi: '-70.00', 'rssi@1m': '' }, reading: { id: 'd4f12e3a1b2c', tx: undefined } },
  { topic: OMG, body: { id: 'AA:BB:CC:DD:EE:FF', rssi: -70, txpower: '' }, reading: { tx: undefined } },
  { topic: OMG, body: { id: 'AA:BB:CC:DD:EE:FF', rssi: -70, txpower: '-59' }, reading: { tx: -59 } }
]
for (const k of TRANSLATE) {
  test(`translate ${JSON.stringify(k.body)} → ${k.reject ?? JSON.stringify(k.reading)}`, () => {
    const f = translate(k.topic, Buffer.from(JSON.stringify(k.body)), 'instore', site.storeId, aliases)
    assert.ok(f !== null)
    if (k.reject) {
      assert.ok('reject' in f && f.reject === k.reject, JSON.stringify(f))
      return
    }
    assert.ok('topic' in f, JSON.stringify(f))
    const r = (JSON.parse(f.payload.toString()) as { readings: Array<Record<string, unknown>> }).readings[0]
    for (const [key, v] of Object.entries(k.reading ?? {})) assert.equal(r[key], v, key)
  })
}

test('blank rssi and 0 dBm end to end: refused and counted, no reading', async () => {
  const g = await startGateway({}, sitePath)
  const metrics = async () => await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
  try {
    const c = await mqtt.connectAsync(g.mqttUrl, { reconnectPeriod: 0 })
    await c.publishAsync(OMG, JSON.stringify({ id: 'AA:BB:CC:DD:EE:01', rssi: '' }), { qos: 1 })
    await c.publishAsync(OMG, JSON.stringify({ id: 'AA:BB:CC:DD:EE:02', rssi: 0 }), { qos: 1 })
    await c.endAsync()
    await waitFor(async () => /instore_rejected_total\{reason="rssi_range"\} 1\b/.test(await metrics()), 5000, 'rssi_range counted')
    const m = await metrics()
    assert.match(m, /instore_rejected_total\{reason="bad_schema"\} 1\b/)
    assert.doesNotMatch(m, /instore_readings_total\{source="ble"\} [1-9]/)
  } finally {
    await g.stop()
  }
})

test('a JSON error is logged as a fixed reason, never with V8 quoting the payload', async () => {
  const lines: string[] = []
  const keep = (msg: string, f?: Record<string, unknown>) => lines.push(`${msg} ${JSON.stringify(f ?? {})}`)
  const log: Logger = { debug: keep, info: keep, warn: keep, error: keep }
  const g = await startGateway({ log }, sitePath)
  try {
    const c = await mqtt.connectAsync(g.mqttUrl, { reconnectPeriod: 0 })
    await c.publishAsync(OMG, '"d4:f1:2e:3a:1b:2c', { qos: 1 })
    await c.publishAsync('instore/boutique-1/sensors/b1/readings', '"d4:f1:2e:3a:1b:2c', { qos: 1 })
    await c.endAsync()
    await waitFor(() => lines.filter(l => l.includes('bad_json')).length >= 1, 5000, 'the drop logged')
    const all = lines.join('\n')
    assert.match(all, /not valid JSON/)
    assert.doesNotMatch(all, /d4:f1/i)
  } finally {
    await g.stop()
  }
})

test("a Theengs publish_topic under another sensor's OpenMQTTGateway name is refused at start", async () => {
  const table: Array<[string, RegExp | null]> = [
    ['home/r2/BTtoMQTT=b4', /'home\/r2\/BTtoMQTT' \(b4\) lies under 'home\/r2', where b2/],
    ['home/TheengsGateway/BTtoMQTT=b4', /lies under 'home\/TheengsGateway', where b3/],
    ['home/r2=b4', /lies under 'home\/r2', where b2/],
    ['home/r2/BTtoMQTT=b2', null],
    ['home/TheengsGateway/BTtoMQTT=b3', null],
    ['theengs/b4=b4', null]
  ]
  for (const [spec, want] of table) {
    const p = foreignProblems({ ...DEFAULT_FOREIGN, theengs: parseTheengs(spec) }, site).join('\n')
    if (want) assert.match(p, want, spec)
    else assert.equal(p, '', spec)
  }
  const dir = mkdtempSync(join(tmpdir(), 'theengs-'))
  const r = await runBin('instore-gateway', ['--site', sitePath, '--theengs-topics', 'home/r2/BTtoMQTT=b4', '--port', '0', '--http-port', '0', '--data', dir])
  assert.equal(r.code, 2, r.stdout + r.stderr)
  assert.match(r.stderr, /lies under 'home\/r2', where b2 publishes/)
})

test("Theengs Gateway's default subscription is granted to a theengs sensor known by its name", async () => {
  const h = hashPassword('pw')
  const g = await startGateway({ auth: { sensors: { b3: h }, firmware: { b3: 'theengs' } } }, sitePath)
  try {
    const c = await mqtt.connectAsync(g.mqttUrl, { username: 'b3', password: 'pw', reconnectPeriod: 0 })
    const granted = await c.subscribeAsync('home/+/BTtoMQTT/undecoded')
    assert.equal(granted[0]?.qos, 0)
    await c.endAsync()
  } finally {
    await g.stop()
  }
})

test('Meraki: observations not an array, or none with a clientMac, are refused with counted reasons', async () => {
  const g = await startGateway({ clock: 'wall', meraki: { validator: 'v', secret: 's' } }, sitePath)
  const url = `http://127.0.0.1:${g.httpPort}/meraki`
  const post = async (data: unknown) =>
    (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version: '3.0', secret: 's', type: 'WiFi', data }) })).status
  const ob = { clientMac: 'aa:bb:cc:00:00:01', locations: [] }
  try {
    assert.equal(await post({ observations: { a: 1 } }), 400)
    assert.equal(await post({}), 400)
    assert.equal(await post({ observations: [{ locations: [] }, { clientMac: '' }, 7] }), 400)
    assert.equal(await post({ observations: [ob, { locations: [] }] }), 202)
    assert.equal(await post({ observations: [] }), 202)
    const m = await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
    assert.match(m, /instore_meraki_posts_total\{result="no_observations"\} 2\b/)
    assert.match(m, /instore_meraki_posts_total\{result="no_client_mac"\} 1\b/)
    assert.match(m, /instore_meraki_posts_total\{result="no_client_mac_records"\} 1\b/)
    assert.match(m, /instore_meraki_posts_total\{result="ok"\} 2\b/)
  } finally {
    await g.stop()
  }
})
