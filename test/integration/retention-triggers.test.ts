// The outside tester's s11 item 5: --retention-days dropped raw events and visits but never the
// triggers nor their acks (device, store, campaign, shop or sector, time: a where-and-when history
// of every shopper sent an offer). Now they go too, but for what the caps still read (the longest
// cooldown of a stored campaign) and what may still be delivered; the funnel counts stay.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { api } from '../helpers/procs.ts'
import { registerDevice, startChain } from '../helpers/replicas.ts'
import { fire, makeCampaign } from '../helpers/streams.ts'
import { startRetention } from '../../server/db/retention.ts'
import type { AnalyticsReplyT } from '../../server/schemas.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'

const DAY = 86_400_000

test(`retention drops triggers and acks older than it, but for what a cooldown still reads (${TEST_ENGINE})`, async () => {
  const chain = await startChain('retention-triggers', 1)
  try {
    const { url, ctx } = chain.replicas[0]
    await makeCampaign(chain, 'plain')
    await makeCampaign(chain, 'long', { cap: { cooldownS: 20 * 86_400 } })
    const dev = await registerDevice(url)
    await fire(chain, dev.subject, 'T-plain', 'plain')
    await fire(chain, dev.subject, 'T-long', 'long')
    for (const id of ['T-plain', 'T-long']) assert.equal((await api(`${url}/v1/triggers/${id}/ack`, dev.token, 'POST', { status: 'opened', storeId: 's1' })).status, 200)
    // A pending trigger of the plain campaign fired now: still deliverable, it stays.
    await fire(chain, dev.subject, 'T-fresh', 'plain')
    const funnel = async () => ((await api<AnalyticsReplyT>(`${url}/v1/analytics/stores/s1`, chain.admin)).body.funnel ?? []).map(f => JSON.stringify(f)).sort()
    const before = await funnel()
    // Ten days pass for the first two (as in the file, not the clock: retention takes `now`).
    const ten = 10 * DAY
    await ctx.db
      .updateTable('triggers')
      .set(eb => ({ ts: eb('ts', '-', ten), expires: eb('expires', '-', ten) }))
      .where('event_id', 'in', ['T-plain', 'T-long'])
      .execute()
    await ctx.db
      .updateTable('acks')
      .set(eb => ({ ts: eb('ts', '-', ten) }))
      .execute()
    const r = startRetention(
      ctx.db,
      ctx.data.engine,
      DAY,
      err => {
        throw err
      },
      Date.now
    )
    await r.runOnce()
    await r.stop()
    const triggers = (await ctx.db.selectFrom('triggers').select('event_id').orderBy('event_id').execute()).map(t => t.event_id)
    assert.deepEqual(triggers, ['T-fresh', 'T-long'], "the plain campaign's old trigger went; the one its 20-day cooldown reads and the pending one stayed")
    assert.equal((await ctx.db.selectFrom('acks').selectAll().execute()).length, 0, 'acks older than the retention went')
    assert.deepEqual(await funnel(), before, 'the funnel counts stay')
    // The cooldown still holds: the long campaign fired again is capped, nothing new is stored.
    await fire(chain, dev.subject, 'T-long2', 'long')
    assert.equal((await ctx.db.selectFrom('triggers').select('event_id').where('campaign_id', '=', 'long').execute()).length, 1)
  } finally {
    await chain.close()
  }
})
