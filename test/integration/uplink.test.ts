// An uplink that behaves (issue 27, item 4): backoff that new events do not shorten, and events
// the central server refuses set aside as dead letters while the rest flows.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '../../shared/log.ts'
import { GatewayStore } from '../../gateway/store.ts'
import { Uplink } from '../../gateway/uplink.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'

interface Fake { server: Server, url: string, posts: number[], accepted: string[] }

/** A central server: `answer` decides each events POST from its event ids; config and live get empty answers. */
async function fakeCentral (answer: (ids: string[]) => number): Promise<Fake> {
  const f: Fake = { server: createServer(), url: '', posts: [], accepted: [] }
  f.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (!(req.url ?? '').endsWith('/events')) { res.writeHead(304); res.end(); return }
      const ids = (JSON.parse(Buffer.concat(chunks).toString()) as { events: Array<{ id: string }> }).events.map(e => e.id)
      f.posts.push(Date.now())
      const status = answer(ids)
      if (status === 200) f.accepted.push(...ids)
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(status === 200 ? JSON.stringify({ accepted: ids.length, duplicates: 0 }) : JSON.stringify({ error: `status ${status}` }))
    })
  })
  f.server.listen(0, '127.0.0.1')
  await once(f.server, 'listening')
  const a = f.server.address()
  f.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`
  return f
}

function addEvents (store: GatewayStore, ids: string[]): void {
  for (const id of ids) store.addEvent(id, 'shop.enter', 1, JSON.stringify({ id, type: 'shop.enter' }))
}

test('while the central server is down, new events do not shorten the backoff', async () => {
  const central = await fakeCentral(() => 503)
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'uplink-')))
  const up = new Uplink({ central: central.url, token: 't', storeId: 's', batch: 100, minBackoffMs: 600, maxBackoffMs: 5000, configEveryMs: 60_000, random: () => 0.9 },
    store, silentLogger, () => {})
  try {
    addEvents(store, ['e0'])
    up.start()
    await waitFor(() => central.posts.length >= 1, 10_000, 'the first attempt')
    // A busy store: events keep coming, each tick kicking the uplink.
    const busy = setInterval(() => { addEvents(store, [`e${Math.random()}`]); up.kick() }, 10)
    try {
      await waitFor(() => central.posts.length >= 3, 20_000, 'two retries')
    } finally { clearInterval(busy) }
    const gaps = central.posts.slice(1).map((t, i) => t - central.posts[i])
    // Full jitter at 0.9 of 600 ms, then of 1200 ms: the kicks every 10 ms changed neither.
    assert.ok(gaps[0] >= 500 && gaps[1] >= 1000, `retries after ${gaps.join(', ')} ms`)
  } finally {
    await up.stop(0)
    store.close()
    central.server.close()
  }
})

test('a batch with events the server refuses (4xx) is split; the refused ones become dead letters, every other one is delivered once', async () => {
  const central = await fakeCentral(ids => ids.some(id => id.startsWith('bad')) ? 400 : 200)
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'uplink-')))
  const ids = Array.from({ length: 23 }, (_, i) => i === 4 || i === 17 ? `bad-${i}` : `ok-${i}`)
  addEvents(store, ids)
  const up = new Uplink({ central: central.url, token: 't', storeId: 's', batch: 10, minBackoffMs: 50, maxBackoffMs: 200, configEveryMs: 60_000 }, store, silentLogger, () => {})
  try {
    up.start()
    await waitFor(() => store.backlog() === 0, 10_000, 'the outbox drained')
    assert.deepEqual(central.accepted, ids.filter(id => id.startsWith('ok')))
    assert.deepEqual(store.deadLetters().map(d => [d.id, d.status]).sort(), [['bad-17', 400], ['bad-4', 400]])
    assert.equal(up.lastError, null)
  } finally {
    await up.stop(0)
    store.close()
    central.server.close()
  }
})

test('an auth failure (403) is not the events\' fault: they wait, nothing is set aside', async () => {
  let status = 403
  const central = await fakeCentral(() => status)
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'uplink-')))
  addEvents(store, ['a', 'b'])
  const up = new Uplink({ central: central.url, token: 't', storeId: 's', batch: 10, minBackoffMs: 50, maxBackoffMs: 100, configEveryMs: 60_000 }, store, silentLogger, () => {})
  try {
    up.start()
    await waitFor(() => central.posts.length >= 2, 10_000, 'retries')
    assert.equal(store.deadLetterCount(), 0)
    status = 200
    await waitFor(() => store.backlog() === 0, 10_000, 'delivered once the token works')
    assert.deepEqual(central.accepted, ['a', 'b'])
  } finally {
    await up.stop(0)
    store.close()
    central.server.close()
  }
})

test('dead letters show in /metrics and /healthz', async () => {
  const central = await fakeCentral(ids => ids.includes('bad') ? 422 : 200)
  const g = await startGateway({ central: { url: central.url, token: 't', configEveryMs: 60_000 } })
  try {
    const store = g.store as GatewayStore
    addEvents(store, ['x1', 'bad', 'x2'])
    g.uplink?.kick()
    await waitFor(() => store.backlog() === 0, 10_000, 'the outbox drained')
    const metrics = await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
    assert.match(metrics, /instore_dead_letters 1/)
    const res = await fetch(`http://127.0.0.1:${g.httpPort}/healthz`)
    const h = await res.json() as { status: string, problems: string[], deadLetters?: { count: number, newest: Array<{ id: string, status: number }> } }
    assert.equal(res.status, 503)
    assert.ok(h.problems.some(p => /dead letter/.test(p)), JSON.stringify(h))
    assert.deepEqual(h.deadLetters?.newest.map(d => [d.id, d.status]), [['bad', 422]])
    assert.deepEqual(central.accepted, ['x1', 'x2'])
  } finally {
    await g.stop()
    central.server.close()
  }
})
