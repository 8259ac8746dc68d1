// Re-tester (s11, 12-config-replies-held-open.mjs): one gateway token pulled its whole config 40
// times without reading the replies, and the server held 40 copies of it (+0.9 GB). The token's
// turn ended once the list was built, not once the reply was sent, and each reply assembled its
// own copy of the list. Now the turn lasts until the reply is sent or its connection closes, and
// every whole reply of one version sends the same Buffers.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { seedListedDevices, startChain } from '../helpers/replicas.ts'
import { TEST_ENGINE } from '../helpers/postgres.ts'
import { waitFor } from '../helpers/gateway.ts'
import { ConfigReplies } from '../../server/config-reply.ts'

/** Enough devices that a whole reply (about 6 MB) cannot sit whole in the sockets' buffers of a client that reads nothing. */
const N = 40_000

test(`a token's whole config left unread holds its turn until its connection closes; replies share one list (${TEST_ENGINE})`, { timeout: 300_000 }, async () => {
  const chain = await startChain('config-held', 1)
  try {
    const { url, ctx } = chain.replicas[0]
    await seedListedDevices(ctx.db, N)
    const headers = { authorization: `Bearer ${chain.gw.s1}` }
    const pull = async () => {
      const r = await fetch(`${url}/v1/stores/s1/config`, { headers })
      return { status: r.status, body: await r.text() }
    }
    const first = await pull()
    assert.equal(first.status, 200)
    assert.equal((JSON.parse(first.body) as { devices: unknown[] }).devices.length, N)

    // A pull whose reply is never read.
    const { port } = new URL(url)
    const held = await new Promise<{ req: http.ClientRequest; status: number }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: Number(port), path: '/v1/stores/s1/config', headers }, res => {
        res.pause()
        resolve({ req, status: res.statusCode ?? 0 })
      })
      req.on('error', reject)
    })
    assert.equal(held.status, 200)
    // The same token again, while that reply is unsent: refused, not given another copy.
    const again = await fetch(`${url}/v1/stores/s1/config`, { headers })
    assert.equal(again.status, 429)
    assert.equal(((await again.json()) as { error: string }).error, 'INSTORE_CONFIG_BUSY')
    // The unread connection closed: the token pulls again, and gets the whole config.
    held.req.destroy()
    let next = { status: 0, body: '' }
    await waitFor(
      async () => {
        next = await pull()
        return next.status === 200
      },
      10_000,
      'a pull answered once the unread reply is gone'
    )
    // (The first was streamed while its list was built: spaces before the list.)
    assert.ok(JSON.stringify(JSON.parse(next.body)) === JSON.stringify(JSON.parse(first.body)), 'the same whole config')

    // Replies of one version send the same Buffers: a reply left unread holds no copy of its own.
    const replies = new ConfigReplies(ctx.db, 86_400_000)
    const one = await replies.pull('s1', {}, undefined, undefined, 'a', Promise.resolve())
    if (one.kind === 'building') await one.devices
    const [a, b] = [await replies.pull('s1', {}, undefined, undefined, 'b', Promise.resolve()), await replies.pull('s2', {}, undefined, undefined, 'c', Promise.resolve())]
    assert.ok(a.kind === 'body' && b.kind === 'body', `${a.kind} ${b.kind}`)
    const big = (parts: readonly Buffer[]) => parts.filter(p => p.length > 10_000)
    assert.ok(big(a.parts).length > 0)
    assert.deepEqual(
      big(a.parts).map((p, i) => p === big(b.parts)[i]),
      big(a.parts).map(() => true)
    )
    assert.equal(
      a.bytes,
      a.parts.reduce((n, p) => n + p.length, 0)
    )
  } finally {
    await chain.close()
  }
})
