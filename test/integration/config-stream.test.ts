// Outside tester (s10): a whole config of 100,000 devices took longer to build than the gateway's
// 10 s request timeout, and the server sent nothing until it was built. A whole reply whose list
// is not built yet is now streamed: the head at once, a space every second while the list is
// built, then the list; the gateway times out on progress (uplink-config-slow-body.test.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { seedListedDevices, startChain } from '../helpers/replicas.ts'
import { TEST_ENGINE } from '../helpers/postgres.ts'

/** Enough devices that building their list takes many turns of the event loop. */
const N = 20_000

test(`a whole config whose device list is being built sends its head first, then the list; one pull per token meanwhile (${TEST_ENGINE})`, { timeout: 300_000 }, async () => {
  const chain = await startChain('config-stream', 1)
  try {
    const { url, ctx } = chain.replicas[0]
    await seedListedDevices(ctx.db, N)
    const pull = () => fetch(url + '/v1/stores/s1/config', { headers: { authorization: `Bearer ${chain.gw.s1}` } })
    const res = await pull()
    assert.equal(res.status, 200)
    assert.ok(res.headers.get('etag'))
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    const first = Buffer.from((await reader.read()).value ?? []).toString()
    assert.match(first.slice(0, 60), /^\{"storeId":"s1","version":"[^"]+","full":true,/)
    assert.match(first.slice(-40), /"devices": *$/, 'the first piece is the head alone, sent before the list is built')
    // The list is still being built: the same token's second pull is refused as busy.
    const again = await pull()
    assert.equal(again.status, 429)
    assert.equal(((await again.json()) as { error: string }).error, 'INSTORE_CONFIG_BUSY')
    let text = first
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      text += Buffer.from(value).toString()
    }
    const whole = JSON.parse(text) as { devices: unknown[]; removed: unknown[]; erasures: unknown[] }
    assert.equal(whole.devices.length, N)
    // The list is kept: the next whole pull is one body at once, the same.
    const kept = await pull()
    assert.equal(JSON.stringify(await kept.json()), JSON.stringify(whole))
  } finally {
    await chain.close()
  }
})
