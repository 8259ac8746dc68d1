// PostgreSQL (an outside tester's t3): one store's slow batches held every named shopper's device
// row FOR UPDATE from their start, so another store's posts failed with 500 after an 8-s lock wait
// and erasure and consent changes waited behind them. A batch now locks device rows only at its
// end, a lock it cannot get soon is answered 503 with Retry-After, and an erasure or a consent
// change goes through while a batch naming the shopper is still at work. The batch is held up here
// by a row lock of a second connection, on a row the batch must write (an analytics counter) or on
// the device itself. On SQLite (one writer at a time, no row locks) there is nothing to test.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { api } from '../helpers/procs.ts'
import { startChain, registerDevice, type Chain } from '../helpers/replicas.ts'
import { readServer, TEST_ENGINE, type ServerReader } from '../helpers/postgres.ts'
import { waitFor } from '../helpers/gateway.ts'
import { eventMaker } from '../helpers/visit.ts'

const { ev } = eventMaker('BL')
let chain: Chain
let side: ServerReader
const enter = (store: 's1' | 's2', subject: string) => ev(subject, { type: 'shop.enter', storeId: store, sector: undefined })
const postRaw = async (url: string, store: 's1' | 's2', events: unknown[]) =>
  await fetch(`${url}/v1/stores/${store}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${chain.gw[store]}`, 'content-type': 'application/json' },
    body: JSON.stringify({ events })
  })
/** Whether a statement of the server waits for a lock. */
const lockWaits = async () => Number((await side.all<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'"))[0].n) > 0

if (TEST_ENGINE === 'postgres') {
  before(async () => {
    chain = await startChain('batch-locks', 2)
    side = await readServer(chain.dataDir)
  })
  after(async () => {
    await side.close()
    await chain.close()
  })

  test('t3: a device row locked past the lock wait makes a batch 503 INSTORE_BUSY with Retry-After, counted; sent again later it is stored', async () => {
    const url = chain.replicas[0].url
    const d = await registerDevice(url)
    const events = [enter('s1', d.subject)]
    await side.all('BEGIN')
    await side.all('SELECT 1 FROM devices WHERE subject = $1 FOR UPDATE', d.subject)
    let r: Response
    try {
      r = await postRaw(url, 's1', events)
    } finally {
      await side.all('COMMIT')
    }
    const body = (await r.json()) as { error: string }
    assert.deepEqual([r.status, body.error, r.headers.get('retry-after')], [503, 'INSTORE_BUSY', '2'])
    assert.match(await (await fetch(`${url}/metrics`)).text(), /^instore_server_events_refused_total\{reason="INSTORE_BUSY"\} [1-9]/m)
    const again = await postRaw(url, 's1', events)
    assert.equal(again.status, 200)
  })

  test("t3: an erasure and a consent withdrawal go through while another store's batch naming the shoppers is at work; it then stores nothing about them", async () => {
    const [a, b] = [chain.replicas[0].url, chain.replicas[1].url]
    const erased = await registerDevice(a)
    const withdrawn = await registerDevice(a)
    const other = await registerDevice(a)
    // A counter the batch will bump, then held by a second connection: the batch waits on it.
    assert.equal((await postRaw(b, 's2', [enter('s2', other.subject)])).status, 200)
    await side.all('BEGIN')
    await side.all("UPDATE an_counts SET n = n WHERE store_id = 's2' AND metric = 'enter' AND res = 't'")
    let released = false
    const release = async () => {
      if (!released) await side.all('COMMIT')
      released = true
    }
    try {
      const batch = postRaw(b, 's2', [enter('s2', erased.subject), enter('s2', withdrawn.subject), enter('s2', other.subject)])
      await waitFor(lockWaits, 10_000, 'the batch to wait on the held counter')
      const changes = Promise.all([
        api(`${a}/v1/devices/${erased.deviceId}`, erased.token, 'DELETE'),
        api(`${a}/v1/devices/${withdrawn.deviceId}/consent`, withdrawn.token, 'PUT', { presence: false, marketing: false })
      ])
      // Bounded well under the batch's lock wait: they must not wait for the batch at all.
      const bound = new Promise<'waited'>(resolve => setTimeout(() => resolve('waited'), 1_500).unref())
      const first = await Promise.race([changes.then(() => 'done' as const), bound])
      await release()
      assert.equal(first, 'done', 'the erasure and the consent change answered while the batch was held up')
      assert.deepEqual(
        (await changes).map(r => r.status),
        [204, 200]
      )
      const r = await batch
      const body = (await r.json()) as { accepted: number; refused?: Array<{ index: number; error: string }> }
      assert.deepEqual(
        [r.status, body.accepted, body.refused?.map(x => [x.index, x.error])],
        [
          422,
          1,
          [
            [0, 'INSTORE_NO_PRESENCE_CONSENT'],
            [1, 'INSTORE_NO_PRESENCE_CONSENT']
          ]
        ]
      )
      for (const d of [erased, withdrawn])
        assert.equal(Number((await side.all<{ n: string }>('SELECT count(*) AS n FROM events WHERE subject = $1', d.subject))[0].n), 0, 'nothing stored about them')
    } finally {
      await release()
    }
  })
}
