import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bleIdentity, classifyBleId } from '../../gateway/ingest/sensor-ids.ts'
import { SubjectHasher } from '../../gateway/ingest/subjects.ts'
import { translate, aliasMap, DEFAULT_FOREIGN } from '../../gateway/ingest/foreign.ts'
import { loadSiteFile } from '../../shared/site.ts'
import { join } from 'node:path'
import { ROOT } from '../helpers/run.ts'

const h = new SubjectHasher('test-secret')
const IB = 'ibeacon:e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4:1:7'

// One row per id form a sensor sends: the subject, and whether the device is anonymous.
const CASES: Array<{ raw: string; mac?: string; subject: string; anonymous: boolean }> = [
  { raw: IB, subject: IB, anonymous: false },
  { raw: 'iBeacon:e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4-1-7', subject: IB, anonymous: false },
  { raw: 'ibeacon:E5B9E3E52AAA4B32B5D59A5E1AB1F0B4:1:7', subject: IB, anonymous: false },
  { raw: 'ibeacon:E5B9E3E5-2AAA-4B32-B5D5-9A5E1AB1F0B4:1:7', subject: IB, anonymous: false },
  { raw: 'eddy:edd1ebeac0c05defa01710-0000000000a1', subject: 'eddystone:edd1ebeac05defa01710:0000000000a1', anonymous: false },
  { raw: 'eddy:edd1ebeac05defa01710-0000000000A1', subject: 'eddystone:edd1ebeac05defa01710:0000000000a1', anonymous: false },
  { raw: 'eddystone:EDD1EBEAC05DEFA01710:0000000000A1', subject: 'eddystone:edd1ebeac05defa01710:0000000000a1', anonymous: false },
  { raw: 'irk:00112233445566778899aabbccddeeff', subject: 'irk:00112233445566778899aabbccddeeff', anonymous: false },
  { raw: 'tile:d4f12e3a1b2c', mac: 'd4f12e3a1b2c', subject: h.hash('d4:f1:2e:3a:1b:2c'), anonymous: false },
  { raw: 'known:d4f12e3a1b2c', subject: h.hash('D4:F1:2E:3A:1B:2C'), anonymous: false },
  { raw: 'miTherm:a4c138000001', subject: h.hash('a4:c1:38:00:00:01'), anonymous: false },
  { raw: 'garmin:d4f12e3a1b2c', subject: h.hash('d4f12e3a1b2c'), anonymous: false },
  { raw: 'D4:F1:2E:3A:1B:2C', subject: h.hash('d4f12e3a1b2c'), anonymous: false },
  { raw: 'my-tag-d4f12e3a1b2c', subject: h.hash('d4f12e3a1b2c'), anonymous: false },
  { raw: 'apple:1005:9-26', mac: '5a1b2c3d4e5f', subject: h.hash('5a:1b:2c:3d:4e:5f'), anonymous: true },
  { raw: 'msft:cdp:0109', mac: '6d4455667788', subject: h.hash('6d4455667788'), anonymous: true },
  { raw: 'name:johns-iphone', mac: '7e1122aabbcc', subject: h.hash('7e1122aabbcc'), anonymous: true },
  { raw: 'exp:20', subject: h.hash('class:exp:20'), anonymous: true },
  { raw: 'sd:0000fd6f-0000-1000-8000-00805f9b34fb', subject: h.hash('class:sd:0000fd6f-0000-1000-8000-00805f9b34fb'), anonymous: true },
  { raw: 'app:3f9c0e21', subject: 'app:3f9c0e21', anonymous: false }
]

for (const c of CASES) {
  test(`BLE id ${c.raw}${c.mac ? ` (mac beside it)` : ''} → ${c.anonymous ? 'anonymous ' : ''}${c.subject}`, () => {
    const who = bleIdentity(c.raw, c.mac, h)
    assert.equal(who.subject, c.subject)
    assert.equal(who.anonymous, c.anonymous)
    assert.ok(!/[0-9a-f]{12}/i.test(who.subject.replace(/^(h:[0-9a-f]{16}|ibeacon:.*|eddystone:.*|irk:.*)$/, '')), 'no raw MAC in a subject')
  })
}

test('class ids are classes whatever their case; a malformed iBeacon id is not taken for one', () => {
  assert.equal(classifyBleId('Apple:1005:9-26').kind, 'class')
  assert.deepEqual(classifyBleId('iBeacon:not-a-uuid-1-7'), { kind: 'stable', id: 'iBeacon:not-a-uuid-1-7' })
})

test('a bare uuid (any case, with or without dashes) is a device id: never a MAC nor a subject as named; whose it is, the lookup says, else anonymous', () => {
  const lower = '7928356c-7e8c-4a35-b6c7-b9c4a8fac01c'
  for (const raw of [lower, lower.toUpperCase(), lower.replaceAll('-', '')]) {
    // Without a lookup (no consent material): anonymous, under a subject that is not the id.
    const anon = bleIdentity(raw, '5a1b2c3d4e5f', h, true)
    assert.equal(anon.anonymous, true)
    assert.match(anon.subject, /^h:[0-9a-f]{16}$/)
    assert.equal(anon.subject, bleIdentity(lower, undefined, h).subject, 'one device whatever the spelling')
    // With one: the lookup is asked with the id in one form, and its answer is the identity.
    const asked: string[] = []
    const who = bleIdentity(raw, undefined, h, undefined, uuid => {
      asked.push(uuid)
      return { subject: 'app:00aa11bb22cc33dd', anonymous: false }
    })
    assert.deepEqual(who, { subject: 'app:00aa11bb22cc33dd', anonymous: false })
    assert.deepEqual(asked, [lower])
  }
  assert.equal(h.holds(bleIdentity(lower, undefined, h).subject), false, 'the device id is not remembered')
})

test("the issue's OpenMQTTGateway repro: the uuid without dashes becomes the contract form, and the site's beacon is recognised", () => {
  const site = loadSiteFile(join(ROOT, 'sites/boutique.site.json'))
  const aliases = aliasMap(site)
  aliases.set('OMG_b1', 'b1')
  const f = translate(
    'home/OMG_b1/BTtoMQTT/6087574C9BC2',
    Buffer.from('{"id":"60:87:57:4C:9B:C2","rssi":-70,"uuid":"e5b9e3e52aaa4b32b5d59a5e1ab1f0b4","major":1,"minor":7,"txpower":-59}'),
    'instore',
    site.storeId,
    aliases,
    DEFAULT_FOREIGN
  )
  assert.ok(f !== null && 'payload' in f)
  const r = JSON.parse(f.payload.toString()) as { readings: Array<{ id: string }> }
  assert.equal(bleIdentity(r.readings[0].id, undefined, h).subject, IB)
  const beacon = translate(
    'home/OMG_b1/BTtoMQTT/AC233F000001',
    Buffer.from('{"id":"AC:23:3F:00:00:01","rssi":-66,"uuid":"F7826DA64FA24E988024BC5B71E0893E","major":1,"minor":1}'),
    'instore',
    site.storeId,
    aliases,
    DEFAULT_FOREIGN
  )
  assert.ok(beacon !== null && 'payload' in beacon)
  const id = bleIdentity((JSON.parse(beacon.payload.toString()) as { readings: Array<{ id: string }> }).readings[0].id, undefined, h).id
  assert.ok(id !== undefined && site.beacons.has(id), `${id} is the site's beacon`)
})
