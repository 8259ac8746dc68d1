// The outside tester's s13 item 2: a trigger.fired the server did not push (the campaign's cap,
// counted across the chain's stores; expired) was stored and counted as `fired` in its store's
// funnel, and relayed to the store's live dashboard as fired. Now it is stored with why it was
// dropped, and neither counted as fired nor relayed. Real HTTP and streams, both engines.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { api } from '../helpers/procs.ts'
import { startChain, registerDevice, type Chain } from '../helpers/replicas.ts'
import { metric, openSse, openTriggers } from '../helpers/streams.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'

type Funnel = Array<{ campaign: string; fired: number }>

/** `store`'s gateway posts a visit of `subject` entering sector `new` and the trigger `id` of `campaignId`. */
async function visit(chain: Chain, store: string, subject: string, id: string, campaignId: string, ts = Date.now()): Promise<void> {
  const base = { storeId: store, subject, visitId: `V${id}`, ts, shop: 'boutique' }
  const events = [
    { ...base, id: `E${id}`, type: 'shop.enter', seq: 1 },
    { ...base, id: `S${id}`, type: 'sector.enter', seq: 2, sector: 'new' },
    { ...base, id, type: 'trigger.fired', seq: 3, sector: 'new', campaignId }
  ]
  const r = await api<{ accepted: number }>(`${chain.replicas[0].url}/v1/stores/${store}/events`, chain.gw[store], 'POST', { events })
  assert.equal(r.status, 200)
  // Stored, held back or not: a re-sent batch is all duplicates.
  assert.equal(r.body.accepted, 3)
}

const fired = async (chain: Chain, store: string, campaign: string) => {
  const r = await api<{ funnel: Funnel }>(`${chain.replicas[0].url}/v1/analytics/stores/${store}`, chain.manager[store], 'GET')
  return r.body.funnel.find(f => f.campaign === campaign)?.fired ?? 0
}

const until = async (ok: () => boolean) => {
  for (let i = 0; i < 100 && !ok(); i++) await new Promise(r => setTimeout(r, 50))
}

test(`a trigger held back by its chain-wide cap, or expired, is neither counted nor shown as fired (${TEST_ENGINE})`, async () => {
  const chain = await startChain('dropped-funnel', 2)
  const url = chain.replicas[0].url
  try {
    const campaign = (id: string, extra: Record<string, unknown>) =>
      api(`${url}/v1/campaigns`, chain.admin, 'POST', { id, stores: ['s1', 's2'], when: { event: 'sector.enter', sector: 'new' }, content: { title: id }, ...extra })
    assert.equal((await campaign('chainwide', { cap: { cooldownS: 86_400, perVisit: 1 } })).status, 201)
    assert.equal((await campaign('brief', { content: { title: 'brief', ttlMin: 1 } })).status, 201)
    const dev = await registerDevice(url)
    const phone = await openTriggers(url, dev.deviceId, dev.token)
    const dashboard = await openSse(url, '/v1/stores/s2/live', chain.manager.s2)
    try {
      await visit(chain, 's1', dev.subject, 'TA', 'chainwide')
      await visit(chain, 's2', dev.subject, 'TB', 'chainwide')
      // Fired ten minutes ago with one minute to live: expired on arrival.
      await visit(chain, 's2', dev.subject, 'TX', 'brief', Date.now() - 600_000)
      await until(() => phone.triggers.length >= 1 && dashboard.events.some(e => e.data.includes('"ETX"')))
      assert.deepEqual(phone.triggers, ['TA'])
      // The dashboard was shown store B's visits, not its triggers.
      assert.ok(dashboard.events.some(e => e.data.includes('"ETX"')))
      assert.deepEqual([await fired(chain, 's1', 'chainwide'), await fired(chain, 's2', 'chainwide'), await fired(chain, 's2', 'brief')], [1, 0, 0])
      const shown = dashboard.events.filter(e => e.data.includes('"trigger.fired"'))
      assert.deepEqual(shown, [])
      assert.equal(await metric(url, 'instore_server_triggers_dropped_total{reason="cap"}'), 1)
      assert.equal(await metric(url, 'instore_server_triggers_dropped_total{reason="expired"}'), 1)
      // Stored with why: the same id again is a duplicate, and the store's events say what happened.
      const again = await api<{ accepted: number; duplicates: number }>(`${url}/v1/stores/s2/events`, chain.gw.s2, 'POST', {
        events: [{ id: 'TB', type: 'trigger.fired', storeId: 's2', subject: dev.subject, seq: 3, ts: Date.now(), visitId: 'VTB', sector: 'new', campaignId: 'chainwide' }]
      })
      assert.deepEqual(again.body, { accepted: 0, duplicates: 1 })
    } finally {
      phone.close()
      dashboard.close()
    }
  } finally {
    await chain.close()
  }
})
