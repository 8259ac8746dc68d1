// MACs written in any form, or inside an id, are hashed like MACs and never logged (issue 26,
// hostile test: dotted, space- and dot-separated forms passed as stable ids; `_` and `0x` hid
// them from the log redaction).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SubjectHasher, isMac, isRandomizedMac, normalizeMac, redactMacs } from '../../gateway/ingest/subjects.ts'
import { bleIdentity } from '../../gateway/ingest/sensor-ids.ts'

const hasher = new SubjectHasher('s')
const D4 = hasher.hash('d4f12e3a1b2c')
const AA = hasher.hash('aabbccddeeff')

const IDS: Array<[string, string]> = [
  ['shelf-aabb.ccdd.eeff', AA],
  ['tile:aabb.ccdd.eeff', AA],
  ['d4.f1.2e.3a.1b.2c', D4],
  ['aa bb cc dd ee ff', AA],
  ['aabb.ccdd.eeff', AA],
  ['tile:d4f12e3a1b2c', D4],
  ['D4:F1:2E:3A:1B:2C', D4]
]
for (const [id, subject] of IDS) {
  test(`BLE id '${id}' is hashed like its MAC`, () => {
    const who = bleIdentity(id, undefined, hasher)
    assert.equal(who.subject, subject)
    assert.equal(who.id, undefined)
  })
}

test('isMac takes every separator form and Cisco dotted', () => {
  for (const m of ['aabb.ccdd.eeff', 'aa.bb.cc.dd.ee.ff', 'aa bb cc dd ee ff', 'aa-bb-cc-dd-ee-ff', 'aabbccddeeff']) assert.equal(isMac(m), true, m)
  for (const m of ['aabb.ccdd.eef', 'h:0123456789abcdef', 'aabbccddeeff0', 'a:1:2:3']) assert.equal(isMac(m), false, m)
})

// The outside tester's leak (s8, report 3): HP/Aruba's two groups of six and mixed separators were
// kept raw as stable ids. Any id made only of hex digits and separators holding exactly 12 hex
// digits is a MAC, in any case.
const A4 = (n: string) => hasher.hash('a4c1389f0e' + n)
const TOTAL: Array<[string, string]> = [
  ['a4c138-9f0e21', A4('21')],
  ['A4C138:9F0E22', A4('22')],
  ['a4:c1-38:9f-0e:23', A4('23')],
  ['A4C1.389F0E24', A4('24')],
  ['a4c1 389f 0e25', A4('25')],
  ['a4c13_89f0e26', A4('26')],
  ['tile:a4c138-9f0e27', A4('27')],
  ['known:A4C138:9F0E28', A4('28')],
  ['iBeacon:a4c138-9f0e29', A4('29')],
  ['shelf a4:c1-38:9f-0e:2a', A4('2a')]
]
for (const [id, subject] of TOTAL) {
  test(`a MAC in any grouping and mix of separators: '${id}' is hashed as its MAC and redacted`, () => {
    const who = bleIdentity(id, undefined, hasher)
    assert.equal(who.subject, subject)
    assert.equal(who.id, undefined)
    assert.equal(/a4.?c1.?38.?9f.?0e/i.test(redactMacs(`dropped ${id} at b1`)), false, 'redacted in logs')
  })
}

// The outside tester's leak (defect 2): `_`, unpadded octets and ids around a MAC passed as stable
// ids. One row per form, MACs and legitimate ids that must stay as they are, side by side.
const DEADBEEF = (n: string) => hasher.hash('deadbeef00' + n)
const FORMS: Array<{ id: string; subject: string | null }> = [
  { id: 'DE_AD_BE_EF_00_01', subject: DEADBEEF('01') },
  { id: 'dev_DE_AD_BE_EF_00_02', subject: DEADBEEF('02') },
  { id: '/org/bluez/hci0/dev_DE_AD_BE_EF_00_02', subject: DEADBEEF('02') },
  { id: 'de:ad:be:ef:0:3', subject: DEADBEEF('03') },
  { id: 'de-ad-be-ef-0-3', subject: DEADBEEF('03') },
  { id: 'known:de_ad_be_ef_00_04', subject: DEADBEEF('04') },
  { id: 'de_ad_be_ef_00_05', subject: DEADBEEF('05') },
  { id: 'device_DE_AD_BE_EF_00_08', subject: DEADBEEF('08') },
  { id: 'tag de ad be ef 00 09 v2', subject: DEADBEEF('09') },
  { id: 'DEAD_BEEF_000A', subject: DEADBEEF('0a') },
  { id: 'x:deadbeef000b', subject: DEADBEEF('0b') },
  // s11 tester G: the other separators the subject grammar lets through (`@`, `=`, `+`, `/`).
  { id: 'DE@AD@BE@EF@00@0C', subject: DEADBEEF('0c') },
  { id: 'de=ad=be=ef=00=0d', subject: DEADBEEF('0d') },
  { id: 'shelf@dead=beef=000e', subject: DEADBEEF('0e') },
  { id: 'de+ad+be+ef+0+f', subject: DEADBEEF('0f') },
  { id: 'de/ad/be/ef/00/10', subject: DEADBEEF('10') },
  { id: 'tile:de@ad@be@ef@00@11', subject: DEADBEEF('11') },
  // Not MACs: each keeps its identity.
  { id: 'ibeacon:e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4:1:7', subject: 'ibeacon:e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4:1:7' },
  { id: 'iBeacon:e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4-1-7', subject: 'ibeacon:e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4:1:7' },
  { id: 'eddystone:edd1ebeac05defa01710:0000000000a1', subject: 'eddystone:edd1ebeac05defa01710:0000000000a1' },
  { id: 'eid:0123456789abcdef', subject: 'eid:0123456789abcdef' },
  { id: 'app:0123456789abcdef', subject: 'app:0123456789abcdef' },
  { id: 'irk:00112233445566778899aabbccddeeff', subject: 'irk:00112233445566778899aabbccddeeff' },
  { id: 'shelf-tag-7', subject: 'shelf-tag-7' },
  { id: 'a:1:2:3', subject: 'a:1:2:3' },
  { id: 'tag@store=7', subject: 'tag@store=7' }
]
for (const f of FORMS) {
  test(`one MAC recogniser: '${f.id}' ${f.subject?.startsWith('h:') ? 'is hashed as its MAC' : 'keeps its identity'}`, () => {
    assert.equal(bleIdentity(f.id, undefined, hasher).subject, f.subject)
    const macLike = f.subject?.startsWith('h:') === true
    if (macLike) assert.ok(!/de.?ad.?be.?ef/i.test(redactMacs(`dropped ${f.id} at b1`)), 'redacted in logs')
  })
}

test('an unpadded MAC hashes as its padded form, and its randomized bit is read from the first octet', () => {
  assert.equal(normalizeMac('de:ad:be:ef:0:3'), 'deadbeef0003')
  assert.equal(normalizeMac('2:0:0:0:0:1'), '020000000001')
  assert.equal(isRandomizedMac('2:0:0:0:0:1'), true)
  assert.equal(isRandomizedMac('DE_AD_BE_EF_00_01'), true)
  assert.equal(isRandomizedMac('dc_ad_be_ef_00_01'), false)
})

const LOGS: Array<[string, string]> = [
  ['dev_aabbccddeeff seen', 'dev_<mac> seen'],
  ['addr 0xaabbccddeeff', 'addr 0x<mac>'],
  ['shelf-aabb.ccdd.eeff', 'shelf-<mac>'],
  ['id d4.f1.2e.3a.1b.2c', 'id <mac>'],
  ['seen aa bb cc dd ee ff!', 'seen <mac>!'],
  ['subject h:0123456789abcdef', 'subject h:0123456789abcdef'],
  ['{"reason":"unknown_beacon","detail":"de_ad_be_ef_00_0f"}', '{"reason":"unknown_beacon","detail":"<mac>"}'],
  ['sensor dev_DE_AD_BE_EF_00_02 unknown', 'sensor dev_<mac> unknown'],
  ['home/OMG_b1/BTtoMQTT/DE_AD_BE_EF_00_21', 'home/OMG_b1/BTtoMQTT/<mac>'],
  ['id de:ad:be:ef:0:3.', 'id <mac>.'],
  ['eid:0123456789abcdef', 'eid:0123456789abcdef']
]
for (const [line, want] of LOGS) {
  test(`redactMacs('${line}')`, () => {
    assert.equal(redactMacs(line), want)
  })
}

// Reviewer (s10): a sensor id in a topic written as a MAC widened to 64 bits (zero-padded, or the
// EUI-64 made from it) was logged raw. The one recogniser takes them, for logs and ids alike.
const TOPICS: Array<[string, string]> = [
  ['instore/s1/sensors/aa:bb:cc:ff:fe:dd:ee:ff/readings', 'instore/s1/sensors/<mac>/readings'],
  ['instore/s1/sensors/aabbccfffeddeeff/readings', 'instore/s1/sensors/<mac>/readings'],
  ['instore/s1/sensors/AABBCC-FFFE-DDEEFF/status', 'instore/s1/sensors/<mac>/status'],
  ['instore/s1/sensors/0aabbccddeeff/readings', 'instore/s1/sensors/<mac>/readings'],
  ['instore/s1/sensors/0000aabbccddeeff/readings', 'instore/s1/sensors/<mac>/readings'],
  ['instore/s1/sensors/00:aa:bb:cc:dd:ee:ff/readings', 'instore/s1/sensors/<mac>/readings'],
  // Ordinary ids stay: a 16-hex EID, a 32-hex irk, a time in milliseconds. A MAC with a counter
  // digit after it is one (reviewer s12: a bare run of 13-24 digits is redacted in a log line).
  ['instore/s1/sensors/b1/readings eid:0123456789abcdef', 'instore/s1/sensors/b1/readings eid:0123456789abcdef'],
  ['irk:00112233445566778899aabbccddeeff', 'irk:00112233445566778899aabbccddeeff'],
  ['aabbccddeeff0 seq 1764000000000', '<mac> seq 1764000000000']
]
for (const [line, want] of TOPICS) {
  test(`a 64-bit spelling of a MAC is redacted: '${line}'`, () => {
    assert.equal(redactMacs(line), want)
  })
}

test('a 64-bit spelling of a MAC written in octets is its MAC: hashed the same, never kept as an id', () => {
  for (const id of [
    'aa:bb:cc:ff:fe:dd:ee:ff',
    '00:aa:bb:cc:dd:ee:ff',
    '00-00-aa-bb-cc-dd-ee-ff',
    'AA.BB.CC.FF.FE.DD.EE.FF',
    'tile:aa:bb:cc:ff:fe:dd:ee:ff',
    'shelf-aa_bb_cc_ff_fe_dd_ee_ff'
  ]) {
    assert.equal(isMac(id) || /^(tile|shelf)/.test(id), true, id)
    assert.equal(bleIdentity(id, undefined, hasher).subject, AA, id)
  }
  assert.equal(normalizeMac('aa:bb:cc:ff:fe:dd:ee:ff'), 'aabbccddeeff')
  for (const id of ['0123456789abcdef', 'aabbccddeeff0', '1aabbccddeeff', 'aabbccfffeddeeff', '0aabbccddeeff']) assert.equal(isMac(id), false, id)
})

// Reviewer (s11): widening the recogniser to bare 13-16 digit runs hashed ids that are not MACs (a
// serial number, an app id, a tag named by its number), so a site beacon so named stopped matching.
// A bare run of digits inside an id is not a MAC; the log redactor still takes it.
const NOT_MACS = [
  'shelf-tag-0000000000000042',
  'sn:0123456789012',
  'app-id:00000000deadbeef',
  '0000a1b2c3d4e5f6',
  'a1b2c3fffe1234ab',
  'aabbccfffeddeeff',
  '0aabbccddeeff',
  'tile:aabbccfffeddeeff',
  'eid:0000a1b2c3d4e5f6',
  'eid:aabbccddeeff',
  'eid:aa:bb:cc:ff:fe:dd:ee:ff',
  'irk:0000000000000000aabbccddeeff0000',
  'irk:aabbccddeeff'
]
for (const id of NOT_MACS) {
  test(`'${id}' keeps its identity: a bare run of digits in an id, or an eid:/irk: id, is not hashed as a MAC`, () => {
    const who = bleIdentity(id, undefined, hasher)
    assert.equal(who.subject, id)
    assert.equal(who.id, id)
  })
}

// Reviewer (s11): one run of hex groups holding two addresses had only its rightmost redacted.
const MANY: Array<[string, string]> = [
  ['pair aa:bb:cc:dd:ee:ff 11:22:33:44:55:66 seen', 'pair <mac> <mac> seen'],
  ['aabbccddeeff-112233445566', '<mac>-<mac>'],
  ['a aa:bb:cc:dd:ee:ff:11:22:33:44:55:66:de:ad:be:ef:00:01 b', 'a <mac>:<mac>:<mac> b'],
  ['aabbccfffeddeeff 0000112233445566-de_ad_be_ef_00_01', '<mac> <mac>-<mac>'],
  ['shelf-tag-0000000000000042 seen', 'shelf-tag-<mac> seen']
]
for (const [line, want] of MANY) {
  test(`every MAC in one run is redacted: '${line}'`, () => {
    assert.equal(redactMacs(line), want)
  })
}
