// Defect 3 of the outside tester's s10 list: a store id may be 100 characters (site file,
// POST /v1/stores, campaigns, events), but an ack's storeId was refused past 64, and the SDK sends
// the trigger's storeId with every ack: in such a store no phone could acknowledge anything. Every
// schema now takes a store id through one definition (shared/events.ts StoreId).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { api } from '../helpers/procs.ts'
import { startChain } from '../helpers/replicas.ts'
import { TEST_ENGINE } from '../helpers/postgres.ts'
import { InstoreClient, type Trigger } from '../../sdk/client.ts'
import { STORE_ID_MAX } from '../../shared/events.ts'
import { AckBody, OperatorBody, StoreParams, TokenQuery } from '../../server/schemas.ts'
import { CampaignSchema } from '../../shared/campaigns.ts'
import { SiteSchema } from '../../shared/site-schema.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const LONG = `galeries-lafayette-paris-haussmann-${'x'.repeat(STORE_ID_MAX)}`.slice(0, STORE_ID_MAX)

test('every schema that takes a store id takes the longest one and refuses one longer', () => {
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as Record<string, unknown>
  const campaign = { id: 'promo', stores: ['s'], when: { event: 'shop.enter', shop: 'boutique' }, content: { title: 'Hello' } }
  const cases: Array<[string, (id: string) => unknown, ReturnType<typeof TypeCompiler.Compile>]> = [
    ['route parameter', id => ({ storeId: id }), TypeCompiler.Compile(StoreParams)],
    ['ack', id => ({ status: 'delivered', storeId: id }), TypeCompiler.Compile(AckBody)],
    ['operator token', id => ({ role: 'manager', stores: [id] }), TypeCompiler.Compile(OperatorBody)],
    ['tokens filter', id => ({ store: id }), TypeCompiler.Compile(TokenQuery)],
    ['campaign', id => ({ ...campaign, stores: [id] }), TypeCompiler.Compile(CampaignSchema)],
    ['site file', id => ({ ...site, storeId: id }), TypeCompiler.Compile(SiteSchema)]
  ]
  for (const [name, make, check] of cases) {
    assert.ok(check.Check(make(LONG)), `${name}: ${[...check.Errors(make(LONG))].map(e => `${e.path} ${e.message}`).join('; ')}`)
    assert.ok(!check.Check(make(LONG + 'x')), `${name} takes ${STORE_ID_MAX + 1} characters`)
    assert.ok(!check.Check(make('a b')), `${name} takes a space`)
  }
})

test(`a phone acknowledges a trigger of a store whose id is ${STORE_ID_MAX} characters (${TEST_ENGINE})`, { timeout: 120_000 }, async () => {
  const chain = await startChain('store-id-lengths', 1)
  try {
    const { url } = chain.replicas[0]
    const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as Record<string, unknown>
    const store = await api<{ gatewayToken: string }>(`${url}/v1/stores`, chain.admin, 'POST', { site: { ...site, storeId: LONG } })
    assert.equal(store.status, 201)
    const campaign = { id: 'promo', stores: [LONG], when: { event: 'shop.enter', shop: 'boutique' }, content: { title: 'Hello', url: 'https://example.com/x' } }
    assert.equal((await api(`${url}/v1/campaigns`, chain.admin, 'POST', campaign)).status, 201)
    assert.equal((await api(`${url}/v1/operators`, chain.admin, 'POST', { role: 'manager', stores: [LONG] })).status, 201)
    const phone = new InstoreClient({ baseUrl: url })
    await phone.register({ presence: true, marketing: true })
    const subject = phone.identity?.subject ?? ''
    const now = Date.now()
    const base = { storeId: LONG, subject, ts: now, shop: 'boutique', visitId: 'v1' }
    const enter = { ...base, id: 'e1', type: 'shop.enter', seq: 1, frequency: { visits7d: 1, visits30d: 1, visits90d: 1, daysSinceLastVisit: null, segment: 'first' } }
    const fired = { ...base, id: 't1', type: 'trigger.fired', seq: 2, campaignId: 'promo', content: { title: 'Hello' } }
    assert.equal((await api(`${url}/v1/stores/${LONG}/events`, store.body.gatewayToken, 'POST', { events: [enter, fired] })).status, 200)
    const errors: string[] = []
    const acked = await new Promise<Trigger>((resolve, reject) => {
      const sub = phone.triggers(
        async t => {
          await phone.ack(t, 'delivered')
          sub.close()
          resolve(t)
        },
        { handlerAttempts: 1, onError: e => errors.push(e.message) }
      )
      setTimeout(() => reject(new Error(`no trigger acknowledged: ${errors.join('; ')}`)), 20_000).unref()
    })
    assert.equal(acked.storeId, LONG)
    await phone.ack(acked, 'opened')
    const an = await api<{ funnel: Array<{ campaign: string; fired: number; delivered: number; opened: number }> }>(`${url}/v1/analytics/stores/${LONG}`, chain.admin)
    assert.equal(an.status, 200)
    assert.deepEqual(
      an.body.funnel.map(f => [f.campaign, f.fired, f.delivered, f.opened]),
      [['promo', 1, 1, 1]]
    )
    assert.deepEqual(errors, [])
  } finally {
    await chain.close()
  }
})
