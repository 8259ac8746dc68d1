// The outside tester's t13b: one store's manager created 10,000 campaigns, and every other
// store's gateway config pull slowed down (the config query read and parsed every campaign of the
// chain, then filtered). Now a pull reads only its store's campaigns (campaign_stores, migration
// 007), and a store holds at most so many campaigns (409 INSTORE_TOO_MANY_CAMPAIGNS, counted).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { api } from '../helpers/procs.ts'
import { startChain } from '../helpers/replicas.ts'
import { metric } from '../helpers/streams.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'

const campaign = (id: string, stores: string[]) => ({ id, stores, when: { event: 'sector.enter', sector: 'women' }, content: { title: id } })

test(`a store holds at most campaignsPerStore campaigns: one more is 409 INSTORE_TOO_MANY_CAMPAIGNS, counted; other stores are not affected (${TEST_ENGINE})`, async () => {
  const chain = await startChain('campaign-limit', 2, undefined, { campaignsPerStore: 3 })
  try {
    const [a, b] = chain.replicas
    const m1 = chain.manager.s1
    // Created at once on both replicas: never more than the limit.
    const made = await Promise.all(Array.from({ length: 6 }, (_, i) => api(`${[a, b][i % 2].url}/v1/campaigns`, m1, 'POST', campaign(`c${i}`, ['s1']))))
    assert.deepEqual(made.map(r => r.status).sort(), [201, 201, 201, 409, 409, 409])
    const refused = made.find(r => r.status === 409)?.body as { error: string; message: string }
    assert.equal(refused.error, 'INSTORE_TOO_MANY_CAMPAIGNS')
    assert.match(refused.message, /s1/)
    const mine = made.flatMap((r, i) => (r.status === 201 ? [`c${i}`] : []))
    // A change of one of them is no new campaign; a campaign of another store is not counted here.
    assert.equal((await api(`${a.url}/v1/campaigns/${mine[0]}`, m1, 'PUT', { ...campaign(mine[0], ['s1']), content: { title: 'changed' } })).status, 200)
    assert.equal((await api(`${a.url}/v1/campaigns`, chain.manager.s2, 'POST', campaign('other', ['s2']))).status, 201)
    // Moved onto the full store: refused, and left as it was.
    const moved = await api<{ error: string }>(`${b.url}/v1/campaigns/other`, chain.admin, 'PUT', campaign('other', ['s1', 's2']))
    assert.deepEqual([moved.status, moved.body.error], [409, 'INSTORE_TOO_MANY_CAMPAIGNS'])
    assert.deepEqual((await api<{ stores: string[] }>(`${a.url}/v1/campaigns/other`, chain.admin)).body.stores, ['s2'])
    // One deleted gives its place back.
    assert.equal((await api(`${a.url}/v1/campaigns/${mine[1]}`, m1, 'DELETE')).status, 204)
    assert.equal((await api(`${b.url}/v1/campaigns`, m1, 'POST', campaign('again', ['s1']))).status, 201)
    let n = 0
    for (const r of new Set([a, b])) n += await metric(r.url, 'instore_server_refused_total{reason="INSTORE_TOO_MANY_CAMPAIGNS"}')
    assert.equal(n, 4)
  } finally {
    await chain.close()
  }
})

test(`a gateway's config pull reads only its own store's campaigns, never another store's (${TEST_ENGINE})`, async () => {
  const chain = await startChain('campaign-config', 1)
  try {
    const { url, ctx } = chain.replicas[0]
    assert.equal((await api(`${url}/v1/campaigns`, chain.admin, 'POST', campaign('both', ['s1', 's2']))).status, 201)
    assert.equal((await api(`${url}/v1/campaigns`, chain.admin, 'POST', campaign('two', ['s2']))).status, 201)
    // A row of store s2 that cannot even be parsed: a pull of s1 that read it would fail.
    await ctx.db.insertInto('campaigns').values({ id: 'broken', body: '{not json', stores: '["s2"]', updated: Date.now() }).execute()
    const r = await api<{ campaigns: Array<{ id: string }> }>(`${url}/v1/stores/s1/config`, chain.gw.s1)
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.deepEqual(
      r.body.campaigns.map(c => c.id),
      ['both']
    )
    // A campaign taken off a store leaves that store's pulls.
    assert.equal((await api(`${url}/v1/campaigns/both`, chain.admin, 'PUT', campaign('both', ['s2']))).status, 200)
    assert.deepEqual((await api<{ campaigns: unknown[] }>(`${url}/v1/stores/s1/config`, chain.gw.s1)).body.campaigns, [])
  } finally {
    await chain.close()
  }
})
