// Ingest's caches (issue 28: CPU per reading): an EID's answer remembered for its quantum, its
// anonymous subject and a MAC's hash remembered per raw id, an id's EID form worked out once. Each
// must answer exactly as the work it saves, and none may keep an erased subject's raw id.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { counterAt, eid, eidReadingId } from '../../shared/eid.ts'
import { IdentityResolver, materialFromFile } from '../../gateway/ingest/identity.ts'
import { ingest, type IngestContext } from '../../gateway/ingest/ingest.ts'
import { SubjectHasher } from '../../gateway/ingest/subjects.ts'

const KEY = Buffer.from('553c66da1485e9f78849de00f2cb178e', 'hex')
const T = 1764000000000
const subject = 'app:00112233aabbccdd'
const K = 10
const material = () => materialFromFile([{ subject, key: KEY.toString('hex'), k: K, consent: { presence: true, marketing: false } }])
const at = (dq: number) => eid(KEY, K, counterAt(T) + dq * 1024)

/** The answer a resolver that never saw the EID gives, having seen the same newest time. */
function fresh(eidHex: string, ms: number, newestMs: number): string | null {
  const r = new IdentityResolver()
  r.replace(material())
  r.resolve('0000000000000000', newestMs)
  return r.resolve(eidHex, ms)
}

test('a remembered EID answer is the answer the tables give, as time moves on and readings come late', () => {
  const r = new IdentityResolver()
  r.replace(material())
  // [EID's quantum offset from T's, time of the reading in quanta from T]: the same EID again and
  // again in its quantum, then the quantum after (the old EID still resolves), two after (no more),
  // and a late reading back in the first quantum.
  const asks: Array<[number, number]> = [
    [0, 0],
    [0, 0.1],
    [0, 0.5],
    [1, 0.5],
    [0, 1.2],
    [1, 1.2],
    [0, 2.3],
    [1, 2.3],
    [0, 0.2],
    [3, 2.5],
    [3, 3.1]
  ]
  let newest = -Infinity
  let resolved = 0
  for (const [dq, q] of asks) {
    const ms = T + q * 1024_000
    newest = Math.max(newest, ms)
    const want = fresh(at(dq), ms, newest)
    assert.equal(r.resolve(at(dq), ms), want, `EID of quantum ${dq} at ${q} quanta`)
    if (want !== null) resolved++
  }
  assert.equal(r.resolved, resolved, 'every answer counted, remembered or not')
  assert.equal(r.resolved + r.unresolved, asks.length)
})

test("a device's material removed (erasure, consent withdrawn): no answer about it is remembered", () => {
  const r = new IdentityResolver()
  r.replace(material())
  assert.equal(r.resolve(at(0), T), subject)
  assert.equal(r.remembers(at(0)), true)
  r.remove(subject)
  assert.equal(r.remembers(at(0)), false)
  assert.equal(r.resolve(at(0), T), null)
  r.upsert(material()[0])
  assert.equal(r.resolve(at(0), T), subject, 'material back: resolved again')
})

test("the hasher remembers MACs' and rotating ids' subjects, the same as computed, and forgets them all at an erasure", () => {
  const h = new SubjectHasher('secret')
  const fresh = () => new SubjectHasher('secret')
  const mac = 'AA:BB:CC:DD:EE:01'
  const hashed = h.hash(mac)
  assert.equal(h.hash(mac), hashed)
  assert.equal(fresh().hash(mac), hashed)
  assert.equal(h.hash('aabbccddee01'), hashed, 'the same address in another form')
  const anon = h.anonymous('eid:0123456789abcdef')
  assert.equal(h.anonymous('eid:0123456789abcdef'), anon)
  assert.equal(fresh().anonymous('eid:0123456789abcdef'), anon)
  assert.equal(h.holds(hashed), true)
  assert.equal(h.holds(anon), true)
  h.forget()
  assert.equal(h.holds(hashed), false)
  assert.equal(h.holds(anon), false)
  assert.equal(h.hash(mac), hashed)
})

test('bounded: the hasher keeps at most its cache size of addresses', () => {
  const h = new SubjectHasher('secret', 3)
  const subjects = ['aabbccddee01', 'aabbccddee02', 'aabbccddee03', 'aabbccddee04'].map(m => h.hash(m))
  assert.equal(h.holds(subjects[0]), false, 'the oldest went first')
  for (const s of subjects.slice(1)) assert.equal(h.holds(s), true)
})

function ctxWith(r: IdentityResolver): IngestContext {
  return {
    prefix: 'instore',
    storeId: 's1',
    sensors: new Set(['r1']),
    beacons: new Set(),
    hasher: new SubjectHasher('secret'),
    maxBytes: 4096,
    identity: r,
    identityTime: () => T
  }
}
const batch = (ids: string[]) => Buffer.from(JSON.stringify({ ts: T, readings: ids.map((id, i) => ({ t: 'ble', id, rssi: -60 - i })) }))

test('an id taken the second time is the same subject or the same refusal as the first time', () => {
  const res = new IdentityResolver()
  res.replace(material())
  const mine = eidReadingId(KEY, K, T)
  const ids = [
    mine,
    mine.toUpperCase().replace('EID:', 'eid:'),
    'EID:0123456789ABCDEF',
    'eid:xyz',
    'eid:0123456789abcdef',
    'a/b',
    'app:x',
    'ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7'
  ]
  const ctx = ctxWith(res)
  const first = ingest('instore/s1/sensors/r1/readings', batch(ids), ctx)
  const again = ingest('instore/s1/sensors/r1/readings', batch(ids), ctx)
  assert.deepEqual(again, first)
  assert.equal(first.kind, 'readings')
  if (first.kind !== 'readings') return
  assert.deepEqual(
    first.readings.map(x => [x.subject === subject ? 'mine' : x.subject.slice(0, 2), x.randomized]),
    [
      ['mine', false],
      ['mine', false],
      ['h:', true],
      ['h:', true],
      ['ib', false]
    ]
  )
  assert.equal(first.readings[2].subject, first.readings[3].subject, 'an EID in upper case is the same EID')
  assert.deepEqual(
    first.rejected.map(x => `${x.reason} ${x.detail}`),
    ['bad_id eid', 'bad_id ble id', 'reserved_id app:']
  )
  assert.equal(res.resolved, 4)
  const other = ingest('instore/s1/sensors/r9/readings', batch(ids), ctx)
  assert.equal(other.kind === 'rejected' && other.reason, 'unknown_sensor', 'a topic split once is still checked every time')
})

test('topics split once answer as split every time: refused ones too, long ones (not kept) included', () => {
  const ctx = ctxWith(new IdentityResolver())
  const body = batch(['ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7'])
  const cases: Array<[string, string]> = [
    ['instore/s1/sensors/r1/readings', 'readings'],
    ['instore/s2/sensors/r1/readings', 'wrong_store'],
    ['instore/s1/sensors/r1/readings/x', 'bad_topic'],
    [`instore/s1/sensors/${'r'.repeat(10_000)}/readings`, 'unknown_sensor'],
    [`other/${'x/'.repeat(5_000)}`, 'bad_topic']
  ]
  for (const [topic, want] of cases) {
    for (let i = 0; i < 2; i++) {
      const r = ingest(topic, body, ctx)
      assert.equal(r.kind === 'rejected' ? r.reason : r.kind, want, `${topic.slice(0, 40)}, time ${i + 1}`)
    }
  }
})
