// Defect 2 of the s7 outside tester's server list: each batch took a pool connection and then waited
// up to 2 s for its store's lock while holding it, so one store's concurrent batches took every
// connection of a replica (a pool of 10) and stalled other stores, registrations, consent changes
// and erasures for seconds. A store's batches now wait for each other in memory (store-gate.ts),
// holding no connection, and are answered 503 INSTORE_BUSY past a bounded wait; a request that
// finds no free connection in time is answered 503 too, not queued without bound.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { api } from '../helpers/procs.ts'
import { startChain, registerDevice, type Chain } from '../helpers/replicas.ts'
import { readServer, TEST_ENGINE, type ServerReader } from '../helpers/postgres.ts'
import { waitFor } from '../helpers/gateway.ts'
import { StoreGate, type Release } from '../../server/routes/store-gate.ts'
import { POOL_SIZE } from '../../server/db/db.ts'
import { STORE_TURN_MAX_WAITING } from '../../server/routes/gateway.ts'

test('the store gate: one turn per store, the next in order, a bounded queue and a bounded wait', async () => {
  const gate = new StoreGate(60_000, 2)
  const first = (await gate.enter('a')) as Release
  assert.ok(first)
  const other = await gate.enter('b')
  assert.ok(other, 'another store does not wait')
  const order: string[] = []
  const second = gate.enter('a').then(r => {
    order.push('second')
    return r
  })
  const third = gate.enter('a').then(r => {
    order.push('third')
    return r
  })
  assert.equal(gate.waiting, 2)
  assert.equal(gate.full('a'), true)
  assert.equal(await gate.enter('a'), null, 'one more than may wait is refused at once')
  first()
  first()
  const r2 = (await second) as Release
  assert.ok(r2)
  assert.deepEqual(order, ['second'], 'released twice, one turn given')
  r2()
  const r3 = (await third) as Release
  assert.deepEqual(order, ['second', 'third'])
  r3()
  other?.()
  assert.equal(gate.waiting, 0)
  const short = new StoreGate(20, 4)
  const held = (await short.enter('a')) as Release
  assert.equal(await short.enter('a'), null, 'past its wait, no turn')
  assert.equal(short.waiting, 0, 'and it waits no more')
  held()
  assert.ok(await short.enter('a'))
})

if (TEST_ENGINE === 'postgres') {
  let chain: Chain
  let side: ServerReader
  before(async () => {
    chain = await startChain('store-gate', 1)
    side = await readServer(chain.dataDir)
  })
  after(async () => {
    await side.close()
    await chain.close()
  })
  let n = 0
  const enter = (store: string, subject: string) => ({
    id: `SG${++n}`,
    type: 'shop.enter',
    storeId: store,
    subject,
    visitId: `v${n}`,
    seq: 1,
    ts: Date.now() - 1000,
    shop: 'boutique'
  })
  const post = (store: 's1' | 's2', subject: string) =>
    api<{ error?: string }>(`${chain.replicas[0].url}/v1/stores/${store}/events`, chain.gw[store], 'POST', { events: [enter(store, subject)] })
  /** Statements of the server waiting for a lock (a row or an advisory lock). */
  const lockWaits = async () => Number((await side.all<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'"))[0].n)

  test("t2: one store's stalled batches hold one connection; another store's batch, a registration and a consent change go through meanwhile", async () => {
    const url = chain.replicas[0].url
    const d = await registerDevice(url)
    assert.equal((await post('s1', 'ble:first')).status, 200)
    // The counter every s1 entry bumps, held by a second connection: s1's next batch waits on it.
    await side.all('BEGIN')
    await side.all("UPDATE an_counts SET n = n WHERE store_id = 's1' AND metric = 'enter' AND res = 't'")
    let released = false
    const release = async () => {
      if (!released) await side.all('COMMIT')
      released = true
    }
    try {
      const answered: number[] = []
      const flood = Array.from({ length: POOL_SIZE + 2 }, (_, i) =>
        post('s1', `ble:s1-${i}`).then(r => {
          answered.push(r.status)
          return r
        })
      )
      // Under the old code the flood's batches wait on s1's lock, each on a connection of its own.
      await waitFor(async () => (await lockWaits()) >= 2 || answered.length >= POOL_SIZE + 2 - 1 - STORE_TURN_MAX_WAITING, 10_000, 'the flood to arrive')
      assert.equal(await lockWaits(), 1, 'one s1 batch at the database, the others wait without a connection')
      const others = Promise.all([
        post('s2', 'ble:s2'),
        api(`${url}/v1/devices`, null, 'POST', { consent: { presence: true, marketing: true } }),
        api(`${url}/v1/devices/${d.deviceId}/consent`, d.token, 'PUT', { presence: true, marketing: false })
      ])
      // Bounded well under the lock wait (2 s) that used to free a connection: they must not wait for s1 at all.
      const bound = new Promise<'waited'>(resolve => setTimeout(() => resolve('waited'), 1_500).unref())
      const got = await Promise.race([others, bound])
      assert.notEqual(got, 'waited', "other stores' batches, registrations and consent changes waited for s1's batches")
      assert.deepEqual(
        (got as Array<{ status: number }>).map(r => r.status),
        [200, 201, 200]
      )
      await release()
      const all = await Promise.all(flood)
      assert.ok(
        all.every(r => r.status === 200 || (r.status === 503 && r.body.error === 'INSTORE_BUSY')),
        all.map(r => r.status).join(' ')
      )
      assert.ok(
        all.some(r => r.status === 503),
        'the batches past the bound are refused'
      )
    } finally {
      await release()
    }
  })

  test('no pooled connection free within the bound: 503 INSTORE_BUSY with Retry-After, not an endless queue', async () => {
    const { url, ctx } = chain.replicas[0]
    let free = () => {}
    const held = new Promise<void>(resolve => {
      free = resolve
    })
    const holders = Array.from({ length: POOL_SIZE }, () => ctx.db.connection().execute(() => held))
    try {
      await waitFor(
        async () =>
          Number((await side.all<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()'))[0].n) >= POOL_SIZE,
        10_000,
        'the pool to be taken'
      )
      // Bounded here too: without the pool's bound the request would wait for as long as the pool is held.
      const r = await fetch(`${url}/v1/stores/s1/config`, { headers: { authorization: `Bearer ${chain.gw.s1}` }, signal: AbortSignal.timeout(20_000) })
      assert.deepEqual([r.status, ((await r.json()) as { error: string }).error, r.headers.get('retry-after')], [503, 'INSTORE_BUSY', '2'])
    } finally {
      free()
      await Promise.all(holders)
    }
    assert.equal((await fetch(`${url}/v1/stores/s1/config`, { headers: { authorization: `Bearer ${chain.gw.s1}` } })).status, 200)
  })
}
