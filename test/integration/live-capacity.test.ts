// The outside tester's "also noted": a live snapshot could claim up to 1,000,000 people in a zone
// (the schema's bound), and the dashboard showed it. Now a count past the zone's floor area times
// a crush density (CRUSH_PER_M2) refuses the snapshot: 400 INSTORE_IMPLAUSIBLE_OCCUPANCY,
// counted in instore_server_live_refused_total. Zones the site does not have are dropped from the
// snapshot and counted (re-tester, s11: they were passed on to dashboard streams as sent).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { api } from '../helpers/procs.ts'
import { ROOT } from '../helpers/run.ts'
import { startChain } from '../helpers/replicas.ts'
import { metric, openSse } from '../helpers/streams.ts'
import { waitFor } from '../helpers/gateway.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'
import { CRUSH_PER_M2 } from '../../server/routes/live-capacity.ts'

interface Feature {
  properties: { kind: string; id: string }
  geometry: { coordinates: number[][][] }
}
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { features: Feature[] }
/** The most people the test expects a zone of the boutique to be allowed (its own shoelace, not the server's). */
function cap(id: string, perM2 = CRUSH_PER_M2): number {
  const ring = site.features.find(f => f.properties.id === id)?.geometry.coordinates[0] ?? []
  let a = 0
  for (let i = 0; i + 1 < ring.length; i++) a += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1]
  return Math.max(1, Math.ceil((Math.abs(a) / 2) * perM2))
}

test(`a live snapshot claiming more people than a zone's floor can hold is refused and counted (${TEST_ENGINE})`, async () => {
  // Snapshots back to back below: the live gate's interval (live-gate.ts) is not what these test.
  const chain = await startChain('live-capacity', 1, undefined, { liveMinIntervalMs: 0 })
  try {
    const { url } = chain.replicas[0]
    const zones = (shops: Record<string, number>, sectors: Record<string, number> = {}) => ({ shops, sectors })
    const snap = (occ: Record<string, unknown>) => ({ ts: 1, positions: [], occupancy: { ts: 1, shops: {}, sectors: {}, passersBy: 0, ...occ } })
    const b = cap('boutique')
    const w = cap('women')
    const cases: Array<[what: string, body: unknown, status: number]> = [
      ['a plausible count', snap({ shops: { boutique: 40 }, sectors: { women: 12 } }), 204],
      ['the shop at its ceiling', snap({ shops: { boutique: b } }), 204],
      ['the shop past it', snap({ shops: { boutique: b + 1 } }), 400],
      ['a million in the boutique', snap({ shops: { boutique: 1_000_000 } }), 400],
      ['a sector past its ceiling', snap({ sectors: { women: w + 1 } }), 400],
      ['the range past it', snap({ shops: { boutique: 3 }, low: zones({ boutique: 1 }), high: zones({ boutique: 1_000_000 }) }), 400],
      // A source's share past the ceiling is cut to it, not refused (an earlier gateway's could be): live-shares.test.ts.
      ['one source past it, the total within', snap({ sectors: { women: w }, bySource: { app: zones({}), ble: zones({}, { women: w + 5 }), wifi: zones({}) } }), 204],
      ['a zone the site does not have', snap({ shops: { elsewhere: 1_000_000 } }), 204],
      ['passers-by are outside', snap({ passersBy: 1_000_000 }), 204],
      ['no occupancy', { ts: 1, positions: [], occupancy: null }, 204]
    ]
    let refused = 0
    for (const [what, body, status] of cases) {
      const r = await api<{ error?: string; message?: string }>(`${url}/v1/stores/s1/live`, chain.gw.s1, 'POST', body)
      assert.equal(r.status, status, what)
      if (status === 400) {
        refused++
        assert.equal(r.body.error, 'INSTORE_IMPLAUSIBLE_OCCUPANCY', what)
        assert.match(r.body.message ?? '', /cannot hold \d+ people/, what)
      }
    }
    assert.equal(await metric(url, 'instore_server_live_refused_total{reason="INSTORE_IMPLAUSIBLE_OCCUPANCY"}'), refused)
  } finally {
    await chain.close()
  }
})

test(`a site whose maxPeoplePerM2 is the schema's maximum has its gateway's counts accepted up to it (${TEST_ENGINE})`, async () => {
  const chain = await startChain('live-capacity-max', 1, undefined, { liveMinIntervalMs: 0 })
  try {
    const { url } = chain.replicas[0]
    const r = await api<{ gatewayToken: string }>(`${url}/v1/stores`, chain.admin, 'POST', { site: { ...site, storeId: 's2', people: { maxPeoplePerM2: 10 } } })
    assert.equal(r.status, 201)
    const b = cap('boutique', 10)
    const snap = (n: number) => ({ ts: 1, positions: [], occupancy: { ts: 1, shops: { boutique: n }, sectors: {}, passersBy: 0 } })
    for (const [what, n, status] of [
      ['past the crush density, within the site setting', b, 204],
      ['past the site setting', b + 1, 400]
    ] as const) {
      const res = await api(`${url}/v1/stores/s2/live`, r.body.gatewayToken, 'POST', snap(n))
      assert.equal(res.status, status, what)
    }
  } finally {
    await chain.close()
  }
})

test(`counts and positions under zones the site does not have are dropped from a live snapshot and counted (${TEST_ENGINE})`, async () => {
  const chain = await startChain('live-unknown-zones', 1, undefined, { liveMinIntervalMs: 0 })
  try {
    const { url } = chain.replicas[0]
    const zones = (shops: Record<string, number>, sectors: Record<string, number> = {}) => ({ shops, sectors })
    const made = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`z${i}`, 1_000_000]))
    const position = { subject: 'app:0000000000000001', ts: 1, x: 2, y: 2, floor: 0, accuracyM: 1, shop: 'elsewhere', sector: 'women', source: 'ble' }
    const body = {
      ts: 1,
      positions: [position],
      occupancy: {
        ts: 1,
        shops: { boutique: 3, ...made },
        sectors: { women: 2, nowhere: 9 },
        passersBy: 0,
        low: zones({ boutique: 2, elsewhere: 5 }),
        high: zones({ boutique: 4 }, { nowhere: 1 }),
        bySource: { app: zones({ elsewhere: 1 }), ble: zones({ boutique: 3 }), wifi: zones({}, { nowhere: 2 }) }
      }
    }
    assert.equal((await api(`${url}/v1/stores/s1/live`, chain.gw.s1, 'POST', body)).status, 204)
    assert.equal(await metric(url, 'instore_server_live_refused_total{reason="INSTORE_UNKNOWN_ZONE"}'), 1000 + 5 + 1, 'each count, and the shop of the position')
    // What a dashboard is sent: the site's own zones only.
    const stream = await openSse(url, '/v1/stores/s1/live', chain.manager.s1)
    try {
      assert.equal(stream.status, 200)
      await waitFor(() => stream.events.some(e => e.event === 'snapshot'), 10_000, 'the latest snapshot')
      const shown = JSON.parse(stream.events.find(e => e.event === 'snapshot')?.data ?? '{}') as typeof body
      assert.deepEqual(shown.occupancy.shops, { boutique: 3 })
      assert.deepEqual(shown.occupancy.sectors, { women: 2 })
      assert.deepEqual([shown.occupancy.low, shown.occupancy.high], [zones({ boutique: 2 }), zones({ boutique: 4 })])
      assert.deepEqual(shown.occupancy.bySource, { app: zones({}), ble: zones({ boutique: 3 }), wifi: zones({}) })
    } finally {
      stream.close()
    }
  } finally {
    await chain.close()
  }
})
