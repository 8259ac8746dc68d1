// Rotating identities: Eddystone-EID computation (shared/eid.ts and the SDK's WebCrypto twin), the
// gateway's resolution of EIDs to stable subjects (gateway/ingest/identity.ts), and ingest's refusal of
// readings that claim a subject namespace only the gateway assigns.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { eid, temporaryKey, epochOf, counterAt, eidReadingId, deviceIdDigest } from '../../shared/eid.ts'
import { eddystoneEid } from '../../sdk/client.ts'
import { IdentityResolver, materialFromFile } from '../../gateway/ingest/identity.ts'
import { ingest, sourcedSubject, type IngestContext } from '../../gateway/ingest/ingest.ts'
import { beaconKey } from '../../gateway/ingest/site-beacons.ts'
import { SubjectHasher } from '../../gateway/ingest/subjects.ts'

const KEY = Buffer.from('553c66da1485e9f78849de00f2cb178e', 'hex')

// The spec (google/eddystone eddystone-eid/eid-computation.md) publishes no vector: these were
// computed independently with the OpenSSL command line, e.g. for the temporary key
//   printf '0000000000000000000000ff00006924' | xxd -r -p | openssl enc -aes-128-ecb -K 553c…178e -nopad | xxd -p
// then the EID with that key over 11 zero bytes | K | the counter with its K low bits cleared.
test("EID of the spec's construction matches values computed with OpenSSL", () => {
  const counter = 1764000000
  assert.equal(temporaryKey(KEY, epochOf(counter)).toString('hex'), 'c8181cac55c1686b96cc3791434a2846')
  assert.equal(eid(KEY, 12, counter), 'b58ee8c13678576e')
})

test('an EID holds for 2^K seconds, then changes; another key gives other ids', () => {
  const k = 10
  const q0 = Math.floor(1764000000 / 1024) * 1024
  assert.equal(eid(KEY, k, q0), eid(KEY, k, q0 + 1023))
  assert.notEqual(eid(KEY, k, q0), eid(KEY, k, q0 + 1024))
  assert.notEqual(eid(KEY, k, q0), eid(Buffer.alloc(16, 7), k, q0))
  assert.match(eidReadingId(KEY, k, q0 * 1000), /^eid:[0-9a-f]{16}$/)
})

test('the SDK (WebCrypto, runs in browsers) computes the same EIDs as shared/eid.ts', async () => {
  const keys = [KEY, Buffer.alloc(16, 0), Buffer.alloc(16, 0xff), Buffer.from('00112233445566778899aabbccddeeff', 'hex')]
  const cases: Array<[number, number]> = [
    [10, 1764000000],
    [0, 0],
    [15, 0xffffffff],
    [10, 65535],
    [10, 65536],
    [12, 1800000000]
  ]
  for (const key of keys) {
    for (const [k, counter] of cases)
      assert.equal(await eddystoneEid(new Uint8Array(key), k, counter), eid(key, k, counter), `key ${key.toString('hex')} k ${k} counter ${counter}`)
  }
})

const T = 1764000000000
const subject = 'app:00112233aabbccdd'

test('the resolver finds the current, previous and next EID of a device, and nothing further', () => {
  const r = new IdentityResolver()
  r.replace(materialFromFile([{ subject, key: KEY.toString('hex'), k: 10, consent: { presence: true, marketing: false } }]))
  const at = (dq: number) => eid(KEY, 10, counterAt(T) + dq * 1024)
  assert.equal(r.resolve(at(0), T), subject)
  assert.equal(r.resolve(at(-1), T), subject)
  assert.equal(r.resolve(at(1), T), subject)
  assert.equal(r.resolve(at(3), T), null)
  assert.equal(r.resolve('0000000000000000', T), null)
  assert.equal(r.marketing(subject), false)
})

test('temporary keys (what the central server sends) resolve like the identity key, only in their epochs', () => {
  const r = new IdentityResolver()
  const epoch = epochOf(counterAt(T))
  r.replace([{ subject, k: 10, marketing: true, tks: { [String(epoch)]: temporaryKey(KEY, epoch).toString('hex') } }])
  assert.equal(r.resolve(eid(KEY, 10, counterAt(T)), T), subject)
  const later = T + 2 * 65536 * 1000
  assert.equal(r.resolve(eid(KEY, 10, counterAt(later)), later), null, 'no key for that epoch')
  r.remove(subject)
  assert.equal(r.resolve(eid(KEY, 10, counterAt(T)), T), null, 'removed (consent withdrawn)')
})

test('a device without presence consent is absent from the material: unresolvable', () => {
  const m = materialFromFile([{ subject, key: KEY.toString('hex'), k: 10, consent: { presence: false, marketing: true } }])
  assert.deepEqual(m, [])
})

function ctxWith(r: IdentityResolver): IngestContext {
  return {
    prefix: 'instore',
    storeId: 's1',
    sensors: new Set(['r1']),
    beacons: new Set(['ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7']),
    hasher: new SubjectHasher('secret'),
    maxBytes: 4096,
    identity: r,
    identityTime: () => T
  }
}
const msg = (o: unknown) => Buffer.from(JSON.stringify(o))

// Repro (issue 25, 1 and 3): subjects were plain ids a stranger could broadcast or inject. A reading
// may not name a subject the gateway assigns, in any case.
for (const id of ['app:00112233aabbccdd', 'APP:victim', 'h:0011223344556677', 'H:x']) {
  test(`a reading that claims the reserved subject ${id} is refused (reserved_id)`, () => {
    const r = ingest('instore/s1/sensors/r1/readings', msg({ ts: T, readings: [{ t: 'ble', id, rssi: -60 }] }), ctxWith(new IdentityResolver()))
    assert.equal(r.kind, 'readings')
    if (r.kind !== 'readings') return
    assert.equal(r.readings.length, 0)
    assert.deepEqual(
      r.rejected.map(x => x.reason),
      ['reserved_id']
    )
  })
}

test('a phone-scan topic may not name a reserved subject either', () => {
  const r = ingest('instore/s1/devices/app:00112233aabbccdd/scans', msg({ ts: T, beacons: [] }), ctxWith(new IdentityResolver()))
  assert.equal(r.kind === 'rejected' && r.reason, 'reserved_id')
})

test("an EID reading resolves to its device's subject; an unknown one is an anonymous, rotating subject", () => {
  const res = new IdentityResolver()
  res.replace(materialFromFile([{ subject, key: KEY.toString('hex'), k: 10, consent: { presence: true, marketing: true } }]))
  const mine = eidReadingId(KEY, 10, T)
  const r = ingest(
    'instore/s1/sensors/r1/readings',
    msg({
      ts: T,
      readings: [
        { t: 'ble', id: mine, rssi: -60 },
        { t: 'ble', id: 'eid:0123456789abcdef', rssi: -61 },
        { t: 'ble', id: 'eid:xyz', rssi: -62 }
      ]
    }),
    ctxWith(res)
  )
  assert.equal(r.kind, 'readings')
  if (r.kind !== 'readings') return
  assert.equal(r.readings[0].subject, subject)
  assert.equal(r.readings[0].randomized, false)
  assert.match(r.readings[1].subject, /^h:[0-9a-f]{16}$/)
  assert.equal(r.readings[1].randomized, true, 'kept out of visits and events')
  assert.deepEqual(
    r.rejected.map(x => x.reason),
    ['bad_id']
  )
  const s = ingest(`instore/s1/devices/${mine}/scans`, msg({ ts: T, beacons: [] }), ctxWith(res))
  assert.equal(s.kind === 'scans' && s.device, subject)
})

test("a device id resolves through its digest to the device's subject, any spelling, until consent or the device goes", () => {
  const id = '7928356c-7e8c-4a35-b6c7-b9c4a8fac01c'
  const m = { subject, k: 10, marketing: false, scan: deviceIdDigest(id) }
  assert.equal(deviceIdDigest(id.toUpperCase()), m.scan)
  assert.equal(deviceIdDigest(id.replaceAll('-', '')), m.scan)
  const r = new IdentityResolver()
  assert.equal(r.resolveDevice(id), null)
  r.upsert(m)
  assert.equal(r.resolveDevice(id), subject)
  assert.equal(r.resolveDevice('0f0e0d0c-0b0a-4908-8706-050403020100'), null)
  r.remove(subject)
  assert.equal(r.resolveDevice(id), null, 'consent withdrawn or erased: anonymous')
  r.replace([m])
  assert.equal(r.resolveDevice(id), subject)
  r.replace([])
  assert.equal(r.resolveDevice(id), null, 'a whole config without the device')
  assert.deepEqual([r.devicesResolved, r.devicesUnresolved], [2, 4])
})

test("a phone-scan topic under a device id, published by that phone's login: its app: subject with consent, else anonymous and changing with time", () => {
  const id = '3F1C5A20-1C8C-4A35-B6C7-B9C4A8FAC01D'
  const r = new IdentityResolver()
  const scan = (ctx: IngestContext, login: string | null = `phone:${id}`) =>
    ingest(`instore/s1/devices/${id}/scans`, msg({ ts: T, beacons: [{ id: 'ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7', rssi: -60 }] }), ctx, login ?? undefined)
  const read = (ctx: IngestContext) => ingest('instore/s1/sensors/r1/readings', msg({ ts: T, readings: [{ t: 'ble', id, rssi: -60 }] }), ctx)
  const anon = scan(ctxWith(r))
  assert.ok(anon.kind === 'scans' && anon.randomized && anon.device.startsWith('h:'))
  const later = scan({ ...ctxWith(r), identityTime: () => T + 1024_000 })
  assert.ok(later.kind === 'scans' && anon.kind === 'scans' && later.device !== anon.device, 'a new anonymous subject each period')
  r.upsert({ subject, k: 10, marketing: false, scan: deviceIdDigest(id) })
  const known = scan(ctxWith(r))
  assert.ok(known.kind === 'scans' && known.device === subject && !known.randomized)
  // A device id is no secret: a sensor's reading, an open broker or another login naming it is a stranger.
  const heard = read(ctxWith(r))
  assert.ok(heard.kind === 'readings' && heard.readings[0].subject.startsWith('h:') && heard.readings[0].randomized, 'a reading never speaks for the phone')
  for (const login of [null, 'phone:0f0e0d0c-0b0a-4908-8706-050403020100', `sensor:${id}`, `phone:${id.toLowerCase()}x`]) {
    const s = scan(ctxWith(r), login)
    assert.ok(s.kind === 'scans' && s.device.startsWith('h:') && s.randomized, `login ${login}`)
  }
  assert.equal(r.devicesUnproven, 5)
})

test('a site beacon named by a bare uuid, in any spelling, is the beacon, never a shopper (readings and Meraki estimates)', () => {
  const site = 'B9407F30-F5F8-466E-AFF9-25556B57FE6D'
  const hasher = new SubjectHasher('secret')
  const key = beaconKey(site, hasher)
  assert.equal(key, site.toLowerCase())
  const ctx = { ...ctxWith(new IdentityResolver()), beacons: new Set([key!]), hasher }
  const ids = [site, site.toLowerCase(), site.replaceAll('-', '')]
  const r = ingest('instore/s1/sensors/r1/readings', msg({ ts: T, readings: ids.map(id => ({ t: 'ble', id, rssi: -60 })) }), ctx)
  assert.ok(r.kind === 'readings')
  for (const x of r.readings) assert.equal(x.beacon, key)
  const m = sourcedSubject('ble', site.toLowerCase(), T, ctx)
  assert.ok(!('reason' in m) && m.beacon === key, 'a Meraki estimate of the beacon')
})
