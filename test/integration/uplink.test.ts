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
import { GatewayStore } from '../../gateway/io/store.ts'
import { Uplink } from '../../gateway/io/uplink.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'

/** An answer other than the server's own: a status with a body and its content type. */
interface Reply {
  status: number
  body: string
  type: string
}

interface Fake {
  server: Server
  url: string
  posts: number[]
  accepted: string[]
}

/** A central server: `answer` decides each events POST from its event ids; config and live get empty answers. */
async function fakeCentral(answer: (ids: string[]) => number | Reply): Promise<Fake> {
  const f: Fake = { server: createServer(), url: '', posts: [], accepted: [] }
  f.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (!(req.url ?? '').endsWith('/events')) {
        res.writeHead(304)
        res.end()
        return
      }
      const ids = (JSON.parse(Buffer.concat(chunks).toString()) as { events: Array<{ id: string }> }).events.map(e => e.id)
      f.posts.push(Date.now())
      const a = answer(ids)
      if (typeof a !== 'number') {
        res.writeHead(a.status, { 'content-type': a.type })
        res.end(a.body)
        return
      }
      if (a === 200) f.accepted.push(...ids)
      res.writeHead(a, { 'content-type': 'application/json' })
      res.end(a === 200 ? JSON.stringify({ accepted: ids.length, duplicates: 0 }) : JSON.stringify({ error: 'INSTORE_BAD_EVENT', message: `status ${a}` }))
    })
  })
  f.server.listen(0, '127.0.0.1')
  await once(f.server, 'listening')
  const a = f.server.address()
  f.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`
  return f
}

function addEvents(store: GatewayStore, ids: string[]): void {
  for (const id of ids) store.addEvent(id, 'shop.enter', 1, JSON.stringify({ id, type: 'shop.enter' }))
}

test('while the central server is down, new events do not shorten the backoff', async () => {
  const central = await fakeCentral(() => 503)
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'uplink-')))
  const up = new Uplink(
    { central: central.url, token: 't', storeId: 's', batch: 100, minBackoffMs: 600, maxBackoffMs: 5000, configEveryMs: 60_000, random: () => 0.9 },
    store,
    silentLogger,
    () => {}
  )
  try {
    addEvents(store, ['e0'])
    up.start()
    await waitFor(() => central.posts.length >= 1, 10_000, 'the first attempt')
    // A busy store: events keep coming, each tick kicking the uplink.
    const busy = setInterval(() => {
      addEvents(store, [`e${Math.random()}`])
      up.kick()
    }, 10)
    try {
      await waitFor(() => central.posts.length >= 3, 20_000, 'two retries')
    } finally {
      clearInterval(busy)
    }
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
  const central = await fakeCentral(ids => (ids.some(id => id.startsWith('bad')) ? 400 : 200))
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'uplink-')))
  const ids = Array.from({ length: 23 }, (_, i) => (i === 4 || i === 17 ? `bad-${i}` : `ok-${i}`))
  addEvents(store, ids)
  const up = new Uplink({ central: central.url, token: 't', storeId: 's', batch: 10, minBackoffMs: 50, maxBackoffMs: 200, configEveryMs: 60_000 }, store, silentLogger, () => {})
  try {
    up.start()
    await waitFor(() => store.backlog() === 0, 10_000, 'the outbox drained')
    assert.deepEqual(
      central.accepted,
      ids.filter(id => id.startsWith('ok'))
    )
    assert.deepEqual(
      store
        .deadLetters()
        .map(d => [d.id, d.status])
        .sort(),
      [
        ['bad-17', 400],
        ['bad-4', 400]
      ]
    )
    assert.equal(up.lastError, null)
  } finally {
    await up.stop(0)
    store.close()
    central.server.close()
  }
})

test("an auth failure (403) is not the events' fault: they wait, nothing is set aside", async () => {
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
  const central = await fakeCentral(ids => (ids.includes('bad') ? 422 : 200))
  const g = await startGateway({ central: { url: central.url, token: 't', configEveryMs: 60_000 } })
  try {
    const store = g.store as GatewayStore
    addEvents(store, ['x1', 'bad', 'x2'])
    g.uplink?.kick()
    await waitFor(() => store.backlog() === 0, 10_000, 'the outbox drained')
    const metrics = await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
    assert.match(metrics, /instore_dead_letters 1/)
    const res = await fetch(`http://127.0.0.1:${g.httpPort}/healthz`)
    const h = (await res.json()) as { status: string; problems: string[]; deadLetters?: { count: number; newest: Array<{ id: string; status: number }> } }
    assert.equal(res.status, 503)
    assert.ok(
      h.problems.some(p => /dead letter/.test(p)),
      JSON.stringify(h)
    )
    assert.deepEqual(
      h.deadLetters?.newest.map(d => [d.id, d.status]),
      [['bad', 422]]
    )
    assert.deepEqual(central.accepted, ['x1', 'x2'])
  } finally {
    await g.stop()
    central.server.close()
  }
})

// Answers that are not the central server's own: nothing may count as delivered or be set aside;
// each is an error retried with backoff, and the outbox drains once the real server answers.
const foreign: Array<[string, Reply]> = [
  ['a captive portal answering 200 with its own JSON', { status: 200, body: '{"portal":"login"}', type: 'application/json' }],
  ['a 200 with an HTML page', { status: 200, body: '<html>sign in</html>', type: 'text/html' }],
  ['a proxy answering 400 with HTML', { status: 400, body: '<html><h1>400 Bad Request</h1></html>', type: 'text/html' }],
  ['a misconfigured endpoint answering 405 with HTML', { status: 405, body: '<html>Method Not Allowed</html>', type: 'text/html' }],
  ["a 422 in JSON that is not the server's error format", { status: 422, body: '{"error":"bad","message":"x"}', type: 'application/json' }]
]
for (const [name, reply] of foreign) {
  test(`${name}: no event is delivered or dead-lettered, the uplink backs off and says central unreachable`, async () => {
    let real = false
    const central = await fakeCentral(() => (real ? 200 : reply))
    const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'uplink-')))
    const ids = Array.from({ length: 16 }, (_, i) => `e${i}`)
    addEvents(store, ids)
    const up = new Uplink(
      { central: central.url, token: 't', storeId: 's', batch: 8, minBackoffMs: 300, maxBackoffMs: 2000, configEveryMs: 60_000, random: () => 1 },
      store,
      silentLogger,
      () => {}
    )
    try {
      up.start()
      await waitFor(() => central.posts.length >= 3, 10_000, 'retries')
      assert.equal(store.backlog(), ids.length, 'nothing counted as delivered')
      assert.equal(store.deadLetterCount(), 0, 'nothing set aside')
      assert.notEqual(up.lastError, null, 'central reported unreachable')
      const gaps = central.posts.slice(1, 3).map((t, i) => t - central.posts[i])
      assert.ok(gaps[0] >= 250 && gaps[1] >= 500, `retried with backoff, not split: gaps ${gaps.join(', ')} ms`)
      real = true
      await waitFor(() => store.backlog() === 0, 10_000, 'delivered once the real server answers')
      assert.deepEqual(central.accepted, ids)
    } finally {
      await up.stop(0)
      store.close()
      central.server.close()
    }
  })
}
