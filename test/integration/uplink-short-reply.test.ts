// Outside tester G (s9, report 3): a central answering 200 {"accepted":0,"duplicates":0} had every
// posted event marked delivered (backlog 0, /healthz ok). The reply's counts are what central holds
// of the batch (contract §6: accepted + duplicates, server/routes/gateway.ts); fewer than posted is
// no delivery. Re-tester (s9, issue 3): more than posted had the outbox stall forever; every event
// is accounted for, so it is delivery, counted as a misreport. A real HTTP server, the real SQLite outbox.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '../../shared/log.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { Uplink } from '../../gateway/io/uplink.ts'
import { waitFor } from '../helpers/gateway.ts'

test('a 200 that says central took fewer events than posted keeps them in the outbox, counted, until one accounts for all', async () => {
  // What central says it took of each batch of n events, in turn; past the list, all of them.
  const says = [() => ({ accepted: 0, duplicates: 0 }), (n: number) => ({ accepted: n - 2, duplicates: 1 }), (n: number) => ({ accepted: n, duplicates: 1 })]
  // The third answer says one more than posted: delivered, counted apart.
  const posts: number[] = []
  // Every post after the first waits for this, so the first reply's state is read before the
  // backoff (50-200 ms) sends again: on a loaded machine the retry came first (CI, stop 40).
  let release = () => {}
  const held = new Promise<void>(resolve => {
    release = resolve
  })
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (!(req.url ?? '').endsWith('/events')) {
        res.writeHead(304)
        res.end()
        return
      }
      const n = (JSON.parse(Buffer.concat(chunks).toString()) as { events: unknown[] }).events.length
      const reply = (says[posts.length] ?? ((k: number) => ({ accepted: k, duplicates: 0 })))(n)
      const first = posts.length === 0
      posts.push(n)
      void (first ? Promise.resolve() : held).then(() => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify(reply))
      })
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'uplink-short-')))
  for (let i = 0; i < 7; i++) store.addEvent(`e${i}`, 'shop.enter', 1, JSON.stringify({ id: `e${i}`, type: 'shop.enter' }))
  const up = new Uplink(
    { central: `http://127.0.0.1:${port}`, token: 't', storeId: 's', batch: 100, minBackoffMs: 50, maxBackoffMs: 200, configEveryMs: 60_000 },
    store,
    silentLogger,
    () => {}
  )
  try {
    up.start()
    await waitFor(() => posts.length >= 1, 10_000, 'the first post')
    await waitFor(() => up.shortReplies >= 1, 5_000, 'the short reply counted')
    assert.equal(store.backlog(), 7, 'nothing marked sent on "accepted 0"')
    assert.equal(up.connected, false, '/healthz lists it')
    assert.match(up.lastError ?? '', /^central took 0 of 7 events/)
    assert.equal(up.lastErrorShort, true, 'worded as what central took, not "unreachable"')
    release()
    await waitFor(() => store.backlog() === 0, 10_000, 'delivered once central says it holds all')
    assert.deepEqual(posts, [7, 7, 7])
    assert.equal(up.shortReplies, 2)
    assert.equal(up.overReplies, 1)
    assert.equal(up.connected, true)
  } finally {
    await up.stop(0)
    store.close()
    server.close()
  }
})
