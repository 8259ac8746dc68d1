// Outside tester's defect 3: a BLE id the central server's event schema refuses (`x y:0`, with a
// space) became a subject, so its visits turned into dead letters. Every subject ingest lets
// through now matches the server's SUBJECT pattern; any other stable id is refused as `bad_id`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ingest, type IngestContext } from '../../gateway/ingest/ingest.ts'
import { SubjectHasher } from '../../gateway/ingest/subjects.ts'
import { SUBJECT } from '../../shared/events.ts'

const ctx: IngestContext = {
  prefix: 'instore',
  storeId: 's1',
  sensors: new Set(['r1']),
  beacons: new Set(),
  hasher: new SubjectHasher('secret'),
  maxBytes: 1 << 16,
  identityTime: ts => ts ?? NaN
}
const T = 1764000000000
const subject = new RegExp(SUBJECT)

const IDS: Array<{ id: string; taken: boolean }> = [
  { id: 'x y:0', taken: false },
  { id: 'x y:4', taken: false },
  { id: 'tag"1', taken: false },
  { id: '<b>tag</b>', taken: false },
  { id: '__proto__', taken: false },
  { id: 'constructor', taken: false },
  { id: 'étiquette', taken: false },
  { id: 'shelf-tag-7', taken: true },
  { id: 'user@example.com', taken: true },
  { id: 'a+b=c', taken: false },
  { id: 'a=b', taken: true },
  { id: 'ibeacon:e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4:1:7', taken: true },
  // Hashed ids take the subject `h:…` whatever the form they were written in.
  { id: 'de ad be ef 00 01', taken: true },
  { id: 'name:John’s iPhone', taken: true }
]

for (const k of IDS) {
  test(`BLE id '${k.id}' is ${k.taken ? 'taken with a subject the server accepts' : 'refused as bad_id'}`, () => {
    const r = ingest('instore/s1/sensors/r1/readings', Buffer.from(JSON.stringify({ ts: T, readings: [{ t: 'ble', id: k.id, rssi: -60 }] })), ctx)
    assert.equal(r.kind, 'readings')
    if (r.kind !== 'readings') return
    if (k.taken) {
      assert.equal(r.readings.length, 1)
      assert.match(r.readings[0].subject, subject)
    } else {
      assert.deepEqual(r.readings, [])
      assert.equal(r.rejected[0]?.reason, 'bad_id')
    }
  })
}

test("a phone's scan device id that cannot be a subject is refused as bad_id", () => {
  const r = ingest('instore/s1/devices/phone one/scans', Buffer.from(JSON.stringify({ ts: T, beacons: [] })), ctx)
  assert.equal(r.kind, 'rejected')
  if (r.kind === 'rejected') assert.equal(r.reason, 'bad_id')
})
