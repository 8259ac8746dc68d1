// Each source's share of a live snapshot (`bySource`) is shown at most at its zone's ceiling (the
// outside tester's repro, 2026-12-07: a million people in one source's share of a boutique was
// shown). Cut rather than refused: a gateway of an earlier version left its shares unbounded under
// a BLE flood, and its snapshot must still reach the dashboard.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { api } from '../helpers/procs.ts'
import { startChain } from '../helpers/replicas.ts'
import { openSse } from '../helpers/streams.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'
import { waitFor } from '../helpers/gateway.ts'

test(`a source's share past its zone's ceiling is shown cut to it, the snapshot accepted (${TEST_ENGINE})`, async () => {
  const chain = await startChain('live-shares', 1)
  const live = await openSse(chain.replicas[0].url, '/v1/stores/s1/live', chain.admin)
  try {
    const zones = (shops: Record<string, number>) => ({ shops, sectors: {} })
    const occupancy = { ts: 1, shops: { boutique: 3 }, sectors: {}, passersBy: 0, bySource: { app: zones({ boutique: 1_000_000 }), ble: zones({ boutique: 2 }), wifi: zones({}) } }
    const r = await api(`${chain.replicas[0].url}/v1/stores/s1/live`, chain.gw.s1, 'POST', { ts: 1, positions: [], occupancy })
    assert.equal(r.status, 204)
    const shown = async () => live.events.map(e => e.data).find(d => d.includes('"bySource"'))
    await waitFor(async () => (await shown()) !== undefined, 10_000)
    const by = (JSON.parse((await shown()) as string) as { occupancy: { bySource: Record<string, { shops: Record<string, number> }> } }).occupancy.bySource
    assert.ok(by.app.shops.boutique < 1_000_000 && by.app.shops.boutique > 3, `shown ${by.app.shops.boutique}`)
    assert.equal(by.ble.shops.boutique, 2)
  } finally {
    live.close()
    await chain.close()
  }
})
