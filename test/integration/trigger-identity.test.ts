// Defect 1 of the s7 outside tester's server list: event ids are unique per store, but a trigger
// was keyed on its event id across all stores, so a second store's trigger with an id the first
// had used was answered 200 "accepted", stored, and never pushed (nor counted). A trigger's key is
// now its store and event id; phones still see the event id, and an ack reaches the caller's own
// trigger(s) of that id, each counted in its own store's funnel. A true duplicate is counted.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { api } from '../helpers/procs.ts'
import { waitFor } from '../helpers/gateway.ts'
import { startChain, registerDevice, type Chain } from '../helpers/replicas.ts'
import { makeCampaign, metric, openTriggers, type Opened } from '../helpers/streams.ts'
import { readServer, TEST_ENGINE } from '../helpers/postgres.ts'
import { storeFacts } from '../../server/hubs/push.ts'
import type { InstoreEvent } from '../../shared/events.ts'
import type { Campaign } from '../../shared/campaigns.ts'

/** Store `store`'s gateway posts a visit of `subject` and a trigger with event id `id` on it; the post's status. */
async function fireAt(chain: Chain, store: 's1' | 's2', subject: string, id: string): Promise<number> {
  const base = { storeId: store, subject, visitId: `V-${store}-${subject}`, ts: Date.now() - 1000, shop: 'boutique' }
  const events = [
    { ...base, id: `E-${store}-${subject}`, type: 'shop.enter', seq: 1 },
    { ...base, id, type: 'trigger.fired', seq: 2, sector: 'women', campaignId: `offer-${store}` }
  ]
  return (await api(`${chain.replicas[0].url}/v1/stores/${store}/events`, chain.gw[store], 'POST', { events })).status
}

const fired = async (chain: Chain, store: string, step: number) => {
  const db = await readServer(chain.dataDir)
  try {
    const rows = await db.all<{ n: number }>("SELECT n FROM an_counts WHERE store_id = ? AND metric = 'fc' AND res = 't' AND k2 = ?", store, step)
    return rows.reduce((a, r) => a + Number(r.n), 0)
  } finally {
    await db.close()
  }
}

test(`two stores' triggers with one event id both reach their phones; each ack counts in its own store (${TEST_ENGINE})`, async () => {
  const chain = await startChain('trigger-identity', 1)
  const open: Opened[] = []
  try {
    const url = chain.replicas[0].url
    await makeCampaign(chain, 'offer-s1')
    await makeCampaign(chain, 'offer-s2', { stores: ['s2'] })
    const [a, b] = [await registerDevice(url), await registerDevice(url)]
    open.push(await openTriggers(url, a.deviceId, a.token), await openTriggers(url, b.deviceId, b.token))
    assert.deepEqual([await fireAt(chain, 's1', a.subject, 'T-same'), await fireAt(chain, 's2', b.subject, 'T-same')], [200, 200])
    await waitFor(() => open.every(o => o.triggers.length === 1), 10_000, 'each phone to get its trigger')
    assert.deepEqual(
      open.map(o => o.triggers),
      [['T-same'], ['T-same']]
    )
    assert.deepEqual(
      open.map(o => (JSON.parse(o.events.find(e => e.event === 'trigger')?.data ?? '{}') as { storeId: string }).storeId),
      ['s1', 's2']
    )
    // Phone B acknowledges its trigger: store s2's funnel counts it, s1's does not.
    assert.equal((await api(`${url}/v1/triggers/T-same/ack`, b.token, 'POST', { status: 'delivered' })).status, 200)
    assert.deepEqual([await fired(chain, 's1', 1), await fired(chain, 's2', 1)], [0, 1])
    const db = await readServer(chain.dataDir)
    try {
      assert.deepEqual(await db.all('SELECT trigger_id, status FROM acks'), [{ trigger_id: 's2/T-same', status: 'delivered' }])
    } finally {
      await db.close()
    }
    // Phone A's token cannot reach B's trigger, and B's ack did not reach A's.
    assert.equal((await api(`${url}/v1/triggers/T-same/ack`, a.token, 'POST', { status: 'opened' })).status, 200)
    assert.deepEqual([await fired(chain, 's1', 2), await fired(chain, 's2', 2)], [1, 0])
    assert.equal((await api(`${url}/v1/triggers/T-unknown/ack`, a.token, 'POST', { status: 'opened' })).status, 404)
  } finally {
    for (const o of open) o.close()
    await chain.close()
  }
})

test(`one phone gets one event id from two stores twice; an ack naming its store reaches that one, one without is refused as ambiguous (${TEST_ENGINE})`, async () => {
  const chain = await startChain('trigger-identity-one', 1)
  let open: Opened | null = null
  try {
    const url = chain.replicas[0].url
    await makeCampaign(chain, 'offer-s1')
    await makeCampaign(chain, 'offer-s2', { stores: ['s2'] })
    const d = await registerDevice(url)
    open = await openTriggers(url, d.deviceId, d.token)
    assert.deepEqual([await fireAt(chain, 's1', d.subject, 'T-twice'), await fireAt(chain, 's2', d.subject, 'T-twice')], [200, 200])
    const stream = open
    await waitFor(() => stream.triggers.length === 2, 10_000, 'both triggers')
    assert.equal((await api(`${url}/v1/triggers/T-twice/ack`, d.token, 'POST', { status: 'delivered', storeId: 's2' })).status, 200)
    assert.deepEqual([await fired(chain, 's1', 1), await fired(chain, 's2', 1)], [0, 1])
    // Without storeId the id names two triggers: refused, neither store's funnel counts it (it
    // reached both before: outside tester, s8).
    const amb = await api<{ error: string }>(`${url}/v1/triggers/T-twice/ack`, d.token, 'POST', { status: 'opened' })
    assert.deepEqual([amb.status, amb.body.error], [409, 'INSTORE_AMBIGUOUS_TRIGGER'])
    assert.deepEqual([await fired(chain, 's1', 1), await fired(chain, 's2', 1)], [0, 1])
    assert.equal(await metric(url, 'instore_server_refused_total{reason="INSTORE_AMBIGUOUS_TRIGGER"}'), 1)
    assert.equal((await api(`${url}/v1/triggers/T-twice/ack`, d.token, 'POST', { status: 'delivered', storeId: 's1' })).status, 200)
    assert.deepEqual([await fired(chain, 's1', 1), await fired(chain, 's2', 1)], [1, 1])
    assert.equal((await api(`${url}/v1/triggers/T-twice/ack`, d.token, 'POST', { status: 'opened', storeId: 's9' })).status, 404)
  } finally {
    open?.close()
    await chain.close()
  }
})

test(`a trigger recorded twice for one store and event id is counted as dropped, reason duplicate (${TEST_ENGINE})`, async () => {
  const chain = await startChain('trigger-identity-dup', 1)
  try {
    const { url, ctx } = chain.replicas[0]
    await makeCampaign(chain, 'offer-s1')
    const d = await registerDevice(url)
    const campaign = (await api<Campaign>(`${url}/v1/campaigns/offer-s1`, chain.admin)).body
    const site = (await ctx.db.selectFrom('stores').select('site').where('id', '=', 's1').executeTakeFirstOrThrow()).site
    const e: InstoreEvent = { id: 'T-dup', type: 'trigger.fired', storeId: 's1', subject: d.subject, seq: 1, ts: Date.now(), campaignId: 'offer-s1' }
    const outcomes = []
    for (let i = 0; i < 2; i++) {
      const o = await ctx.db.transaction().execute(trx => ctx.hub.record(trx, e, campaign, storeFacts(site)))
      ctx.hub.count(o)
      outcomes.push(o)
    }
    assert.deepEqual(outcomes, ['pushed', 'duplicate'])
    assert.equal(await metric(url, 'instore_server_triggers_dropped_total{reason="duplicate"}'), 1)
  } finally {
    await chain.close()
  }
})
