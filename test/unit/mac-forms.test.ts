// MACs written in any form, or inside an id, are hashed like MACs and never logged (issue 26,
// hostile test: dotted, space- and dot-separated forms passed as stable ids; `_` and `0x` hid
// them from the log redaction).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SubjectHasher, isMac, redactMacs } from '../../gateway/ingest/subjects.ts'
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
  for (const m of ['aa:bb-cc:dd:ee:ff', 'aabb.ccdd.eef', 'h:0123456789abcdef']) assert.equal(isMac(m), false, m)
})

const LOGS: Array<[string, string]> = [
  ['dev_aabbccddeeff seen', 'dev_<mac> seen'],
  ['addr 0xaabbccddeeff', 'addr 0x<mac>'],
  ['shelf-aabb.ccdd.eeff', 'shelf-<mac>'],
  ['id d4.f1.2e.3a.1b.2c', 'id <mac>'],
  ['seen aa bb cc dd ee ff!', 'seen <mac>!'],
  ['subject h:0123456789abcdef', 'subject h:0123456789abcdef']
]
for (const [line, want] of LOGS) {
  test(`redactMacs('${line}')`, () => {
    assert.equal(redactMacs(line), want)
  })
}
