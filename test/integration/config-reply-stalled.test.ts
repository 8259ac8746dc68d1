// Re-tester (s12, RS2 04-config-turn-held-by-stalled-reply.mjs): a whole config whose client
// stopped reading kept its token's turn for as long as the connection lived, and every later pull
// of that gateway got 429 INSTORE_CONFIG_BUSY (a half-open link: until TCP gives up, ~15 min). A
// reply whose client takes none of its bytes for limits.replyStallMs is now cut, counted and its
// turn given back; a reply that is read, even in bursts with pauses shorter than that, is not.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { seedListedDevices, startChain } from '../helpers/replicas.ts'
import { TEST_ENGINE } from '../helpers/postgres.ts'
import { waitFor } from '../helpers/gateway.ts'

/** Enough devices that a whole reply (about 6 MB) cannot sit whole in the sockets' buffers of a client that reads nothing. */
const N = 40_000
/** Short, so the test is quick; the pauses of the reader below are far shorter. */
const STALL_MS = 1500

test(`a whole config left unread is cut after limits.replyStallMs and its token pulls again; one read in bursts is not cut (${TEST_ENGINE})`, { timeout: 300_000 }, async () => {
  const chain = await startChain('config-stall', 1, undefined, { replyStallMs: STALL_MS })
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
    const whole = JSON.stringify(JSON.parse(first.body))
    const { port } = new URL(url)
    const get = () =>
      new Promise<{ req: http.ClientRequest; res: http.IncomingMessage }>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: Number(port), path: '/v1/stores/s1/config', headers }, res => resolve({ req, res }))
        req.on('error', reject)
      })

    // A pull whose reply is never read: the turn is held (one unread reply per token at most)...
    const held = await get()
    held.res.pause()
    held.res.on('error', () => {})
    assert.equal(held.res.statusCode, 200)
    const again = await fetch(`${url}/v1/stores/s1/config`, { headers })
    assert.equal(again.status, 429)
    assert.equal(((await again.json()) as { error: string }).error, 'INSTORE_CONFIG_BUSY')
    // ...until the stall bound: the connection is cut by the server and the token pulls again.
    let next = { status: 0, body: '' }
    await waitFor(
      async () => {
        next = await pull()
        return next.status === 200
      },
      60_000,
      'a pull answered once the stalled reply is cut'
    )
    assert.equal(JSON.stringify(JSON.parse(next.body)), whole)
    assert.equal(ctx.metrics.configStreamsCut.stalled, 1)
    const metrics = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${chain.admin}` } })).text()
    assert.match(metrics, /instore_server_config_streams_cut_total\{reason="stalled"\} 1/)
    held.req.destroy()

    // A reply read in bursts, pausing a third of the bound after each megabyte: sent whole, never cut.
    const slow = await get()
    const chunks: Buffer[] = []
    let sinceStop = 0
    await new Promise<void>((resolve, reject) => {
      slow.res.on('data', (c: Buffer) => {
        chunks.push(c)
        sinceStop += c.length
        if (sinceStop < 1 << 20) return
        sinceStop = 0
        slow.res.pause()
        setTimeout(() => slow.res.resume(), STALL_MS / 3)
      })
      slow.res.on('end', resolve)
      slow.res.on('error', reject)
    })
    assert.equal(JSON.stringify(JSON.parse(Buffer.concat(chunks).toString())), whole)
    assert.equal(ctx.metrics.configStreamsCut.stalled, 1, 'a reply being read is not cut')
  } finally {
    await chain.close()
  }
})
