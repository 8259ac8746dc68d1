// EIDs resolve at the gateway's time, never at a sender's claim (issue 25, hostile tester items 3,
// 4 and 5): live, the arrival time; in a replay (event clock), the reading's time as the clock
// admits it. Only the periods around that time resolve, and no reading makes the gateway build
// lookup tables for periods of its choosing.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { eidReadingId } from '../../shared/eid.ts'
import { IdentityResolver, materialFromFile } from '../../gateway/ingest/identity.ts'
import { ingest, type IngestContext } from '../../gateway/ingest/ingest.ts'
import { SubjectHasher } from '../../gateway/ingest/subjects.ts'
import { GatewayClock, defaultClockOptions } from '../../gateway/ingest/clock.ts'

const KEY = Buffer.from('553c66da1485e9f78849de00f2cb178e', 'hex')
const subject = 'app:00112233aabbccdd'
const NOW = 1764000000000
const DAY = 86_400_000

function resolver(extra = 0): IdentityResolver {
  const r = new IdentityResolver()
  const others = Array.from({ length: extra }, (_, i) => ({
    subject: `app:${(i + 1).toString(16)}`,
    key: Buffer.alloc(16, i % 256).toString('hex'),
    k: 10,
    consent: { presence: true, marketing: false }
  }))
  r.replace(materialFromFile([{ subject, key: KEY.toString('hex'), k: 10, consent: { presence: true, marketing: false } }, ...others]))
  return r
}

/** An ingest context whose identity time comes from a gateway clock, as in gateway/pipeline.ts. */
function ctxWith(r: IdentityResolver, clock: GatewayClock): IngestContext {
  return {
    prefix: 'instore',
    storeId: 's1',
    sensors: new Set(['r1']),
    beacons: new Set(),
    hasher: new SubjectHasher('secret'),
    maxBytes: 4096,
    identity: r,
    identityTime: ts => clock.identityTime(ts)
  }
}
const wallAt = (ms: number) => new GatewayClock({ ...defaultClockOptions, mode: 'wall', wall: () => ms })
const eventClock = () => new GatewayClock({ ...defaultClockOptions, mode: 'event' })

/** The subjects of one batch of readings: each [EID id, claimed ts or undefined]. */
function heard(ctx: IngestContext, readings: Array<[string, number | undefined]>, batchTs?: number): string[] {
  const body = { ...(batchTs !== undefined ? { ts: batchTs } : {}), readings: readings.map(([id, ts]) => ({ t: 'ble', id, rssi: -60, ...(ts !== undefined ? { ts } : {}) })) }
  const r = ingest('instore/s1/sensors/r1/readings', Buffer.from(JSON.stringify(body)), ctx)
  assert.equal(r.kind, 'readings')
  return r.kind === 'readings' ? r.readings.map(x => x.subject) : []
}

// Repro (item 3): the claimed ts was used to resolve, then wall mode re-stamped the reading to its
// arrival: a shopper's EID recorded yesterday, replayed with yesterday's ts, put them in store now.
const replays: Array<[string, number]> = [
  ['a day ago', NOW - DAY],
  ['an hour ago', NOW - 3_600_000],
  ['the next epoch', NOW + 65_536_000]
]
for (const [when, then] of replays) {
  test(`live, an EID of ${when} replayed with its original ts stays anonymous`, () => {
    const ctx = ctxWith(resolver(), wallAt(NOW))
    const [s] = heard(ctx, [[eidReadingId(KEY, 10, then), then]])
    assert.match(s, /^h:/)
  })
}

test('live, the current EID resolves whatever ts the sensor claims, or none', () => {
  const ctx = ctxWith(resolver(), wallAt(NOW))
  const id = eidReadingId(KEY, 10, NOW)
  assert.deepEqual(
    heard(ctx, [
      [id, NOW],
      [id, NOW - DAY],
      [id, undefined]
    ]),
    [subject, subject, subject]
  )
})

// Repro (item 4): readings without a ts (ESPresense, OpenMQTTGateway) never resolved, and one
// reading stamped far in the future stopped ts-less readings resolving until a restart.
test('live, ts-less readings resolve, also after a reading claimed a far future time', () => {
  const ctx = ctxWith(resolver(), wallAt(NOW))
  const id = eidReadingId(KEY, 10, NOW)
  assert.deepEqual(heard(ctx, [[id, undefined]]), [subject])
  heard(ctx, [['eid:0123456789abcdef', 9e12]])
  assert.deepEqual(heard(ctx, [[id, undefined]]), [subject])
})

test("replayed (event clock), an EID resolves at the trace's time; ts-less readings at the current event time", () => {
  const clock = eventClock()
  const ctx = ctxWith(resolver(), clock)
  const id = eidReadingId(KEY, 10, NOW)
  assert.match(heard(ctx, [[id, undefined]])[0], /^h:/, 'no time yet')
  clock.stamp(NOW)
  assert.deepEqual(
    heard(ctx, [
      [id, NOW],
      [id, undefined]
    ]),
    [subject, subject]
  )
  assert.match(heard(ctx, [[eidReadingId(KEY, 10, NOW - DAY), NOW]])[0], /^h:/, 'an EID of another day')
})

// Repro (item 5): each unknown EID claiming a ts in a new rotation period built up to 3 tables of
// one AES operation per device: a few tiny readings froze a gateway with many devices.
test("unknown EIDs claiming many periods build tables only for the periods around the gateway's time", () => {
  const r = resolver(200)
  const ctx = ctxWith(r, wallAt(NOW))
  heard(
    ctx,
    Array.from({ length: 30 }, (_, i) => [`eid:${(i + 1).toString(16).padStart(16, '0')}`, NOW - (i + 1) * 3_600_000])
  )
  assert.ok(r.tablesBuilt <= 3, `${r.tablesBuilt} tables built`)
})

test('a resolver builds no tables for periods long before the newest time it saw', () => {
  const r = resolver()
  const id = eidReadingId(KEY, 10, NOW)
  assert.equal(r.resolve(id.slice(4), NOW), subject)
  const built = r.tablesBuilt
  for (let i = 1; i <= 30; i++) assert.equal(r.resolve('0123456789abcdef', NOW - i * 3_600_000), null)
  assert.equal(r.tablesBuilt, built)
})
