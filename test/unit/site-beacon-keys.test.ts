// Tester s12 G, issue 2: the site's beacons are keyed as readings of them are (ingest/site-beacons.ts),
// so a phone's scan naming a beacon in another spelling (upper-case uuid, ESPresense form, a MAC in
// any form) still finds it, under its key, and a MAC-named beacon's address goes no further.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { ingest, type IngestContext } from '../../gateway/ingest/ingest.ts'
import { keyedBeacons } from '../../gateway/ingest/site-beacons.ts'
import { SubjectHasher } from '../../gateway/ingest/subjects.ts'
import { silentLogger } from '../../shared/log.ts'
import { loadSiteFile } from '../../shared/site.ts'
import { ROOT } from '../helpers/run.ts'

const hasher = new SubjectHasher('secret')
const base = loadSiteFile(join(ROOT, 'sites/boutique.site.json'))
const beacon = (id: string) => ({ id, x: 1, y: 1, z: 1, floor: 0, rssiAt1m: -60 })
const site = keyedBeacons(
  { ...base, beacons: new Map(['c3:00:11:22:33:44', 'ibeacon:F7826DA6-4FA2-4E98-8024-BC5B71E0AAAA:1:2', 'C3-00-11-22-33-44'].map(id => [id, beacon(id)])) },
  hasher,
  silentLogger
)
const ctx: IngestContext = {
  prefix: 'instore',
  storeId: 's1',
  sensors: new Set(['r1']),
  beacons: new Set(site.beacons.keys()),
  hasher,
  maxBytes: 4096,
  identityTime: ts => ts ?? NaN
}

test('a MAC-named site beacon is kept under its hash, once however often it is listed; an upper-case uuid under its contract id', () => {
  assert.deepEqual([...site.beacons.keys()], [hasher.hash('c30011223344'), 'ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0aaaa:1:2'])
  assert.equal(JSON.stringify([...site.beacons.values()]).includes('c3'), false)
})

test("a phone's scan finds the site's beacons whatever spelling it uses", () => {
  const beacons = [
    { id: 'C3::00::11::22::33::44', rssi: -70 },
    { id: 'iBeacon:f7826da6-4fa2-4e98-8024-bc5b71e0aaaa-1-2', rssi: -71 },
    { id: 'ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0ffff:1:2', rssi: -72 }
  ]
  const r = ingest('instore/s1/devices/phone-1/scans', Buffer.from(JSON.stringify({ ts: 1764000000000, beacons })), ctx)
  assert.equal(r.kind, 'scans')
  if (r.kind !== 'scans') return
  assert.deepEqual(
    r.beacons.map(b => b.id),
    [...site.beacons.keys()]
  )
  assert.deepEqual(
    r.rejected.map(x => x.reason),
    ['unknown_beacon']
  )
})
