// Re-tester (s10, report 2): the site schema took `__main` and `valueOf` as store ids until they
// were refused as reserved names; one store-id shape for every route then made such a store, kept
// in an upgraded database and listed by GET /v1/stores, answer 400 on its own site, analytics and
// manager tokens. Routes naming an existing store take it; the prototype's names stay refused.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { api } from '../helpers/procs.ts'
import { startChain } from '../helpers/replicas.ts'
import { TEST_ENGINE } from '../helpers/postgres.ts'
import { ROOT } from '../helpers/run.ts'

test(`a store whose id an older site schema took stays readable and manageable; __proto__ is still refused (${TEST_ENGINE})`, async () => {
  const chain = await startChain('store-legacy', 1)
  try {
    const { url, ctx } = chain.replicas[0]
    const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string }
    for (const id of ['__main', 'valueOf'])
      await ctx.db
        .insertInto('stores')
        .values({ id, site: JSON.stringify({ ...site, storeId: id }), updated: Date.now() })
        .execute()
    for (const id of ['__main', 'valueOf']) {
      assert.equal((await api(`${url}/v1/stores/${id}/site`, chain.admin)).status, 200, `${id}: its site`)
      assert.equal((await api(`${url}/v1/analytics/stores/${id}`, chain.admin)).status, 200, `${id}: its analytics`)
      assert.equal((await api(`${url}/v1/operators`, chain.admin, 'POST', { role: 'manager', stores: [id] })).status, 201, `${id}: a manager token`)
    }
    // A new store still cannot take such an id, and the prototype's names are refused everywhere.
    assert.equal((await api(`${url}/v1/stores`, chain.admin, 'POST', { site: { ...site, storeId: '__main2' } })).status, 400)
    for (const id of ['__proto__', 'constructor', 'prototype']) assert.equal((await api(`${url}/v1/analytics/stores/${id}`, chain.admin)).status, 400, id)
  } finally {
    await chain.close()
  }
})
