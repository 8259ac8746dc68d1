// A full disk (issue 27): the events of a transaction SQLite cannot write wait in memory and are
// stored once the disk takes them again, in order, exactly once; what waits is bounded and what
// is dropped past the bound is counted. A real SQLite file, made full with `max_page_count`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewayStore } from '../../gateway/io/store.ts'
import { gatewayHealth } from '../../gateway/health.ts'
import { Metrics } from '../../gateway/io/metrics.ts'
import { collectStoreMetrics } from '../../gateway/gateway-metrics.ts'
import { IdentityResolver } from '../../gateway/ingest/identity.ts'
import { loadSiteFile } from '../../shared/site.ts'

const BODY = 'x'.repeat(3000)

function open(limits = { maxOps: 200_000, maxBytes: 1 << 26 }): { store: GatewayStore; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'instore-full-'))
  // Tried again at every transaction (the gateway waits a second between tries).
  const store = new GatewayStore(dir, 'gateway.sqlite', { ...limits, retryEveryMs: 0 })
  return {
    store,
    done: () => {
      store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** One tick's worth: a sequence number and an event for subject `s`, in one transaction, as presence.ts writes them. */
function tick(store: GatewayStore, i: number): void {
  store.transaction(() => {
    const seq = store.nextSeq('s')
    store.addEvent(`e${String(i).padStart(4, '0')}`, 'shop.enter', i, JSON.stringify({ subject: 's', seq, body: BODY }))
    store.setCap('c', 's', i, `v${i}`, seq)
  })
}

/** What /healthz says of the store alone. */
function health(store: GatewayStore): string[] {
  const site = loadSiteFile('sites/boutique.site.json')
  const now = Date.now()
  const h = gatewayHealth({
    site,
    dataDir: tmpdir(),
    clock: 'event',
    sensorSilenceMs: 600_000,
    bus: null,
    uplink: null,
    siteOutdated: false,
    store,
    pipeline: null,
    presence: null,
    lastWorkAt: now,
    startedAt: now
  })
  return h.problems
}

const full = (store: GatewayStore): void => {
  const pages = store.db.pragma('page_count', { simple: true }) as number
  store.db.pragma(`max_page_count = ${pages}`)
}
const room = (store: GatewayStore): void => {
  store.db.pragma('max_page_count = 1000000')
}

test('a full disk: the events wait in memory and are stored once there is room, in order, each once', () => {
  const { store, done } = open()
  try {
    for (let i = 0; i < 3; i++) tick(store, i)
    const first = store.unpublished()
    assert.equal(first.length, 3)
    full(store)
    // The code this started from threw here: the tick was skipped and its event lost.
    for (let i = 3; i < 20; i++) tick(store, i)
    assert.ok(store.retry.waiting > 0, 'writes wait')
    assert.equal(store.retry.waitingEvents, 17)
    const problems = health(store)
    assert.ok(
      problems.some(p => p.startsWith('disk refusing writes') && p.includes('17 event(s) waiting')),
      problems.join('; ')
    )
    const metrics = new Metrics()
    collectStoreMetrics(metrics, store, { campaigns: null, presence: null, identity: new IdentityResolver(), bus: null })
    assert.match(metrics.text(), /^instore_store_waiting_events 17$/m)
    assert.ok(store.retry.lastFullAt !== null)
    // Rows handed on while the disk is full are not handed on again, though their mark waits too.
    store.markPublished(first[first.length - 1].seq)
    assert.deepEqual(store.unpublished(), [])
    // A campaign cap and the sequence read during the outage see the writes that wait.
    assert.equal(store.cap('c', 's')?.visitCount, 20)
    room(store)
    tick(store, 20)
    assert.equal(store.retry.waiting, 0)
    const rows = store.unpublished()
    assert.deepEqual(
      rows.map(r => r.id),
      Array.from({ length: 18 }, (_, i) => `e${String(i + 3).padStart(4, '0')}`)
    )
    assert.deepEqual(
      rows.map(r => (JSON.parse(r.body) as { seq: number }).seq),
      Array.from({ length: 18 }, (_, i) => i + 4)
    )
    store.markPublished(rows[rows.length - 1].seq)
    assert.deepEqual(store.unpublished(), [])
    assert.equal(store.unsent().length, 21)
    assert.equal((store.db.prepare('SELECT COUNT(DISTINCT id) AS n FROM outbox').get() as { n: number }).n, 21)
    assert.equal(store.retry.droppedEvents, 0)
  } finally {
    done()
  }
})

test('a full disk: what waits is bounded, and what is dropped past the bound is counted', () => {
  const { store, done } = open({ maxOps: 9, maxBytes: 1 << 20 })
  try {
    tick(store, 0)
    full(store)
    for (let i = 1; i < 6; i++) tick(store, i)
    // Three writes a tick: three ticks wait, two are dropped.
    assert.equal(store.retry.waitingEvents, 3)
    assert.equal(store.retry.droppedEvents, 2)
    room(store)
    store.retry.flush()
    assert.deepEqual(
      store.unsent().map(r => r.id),
      ['e0000', 'e0001', 'e0002', 'e0003']
    )
  } finally {
    done()
  }
})

test('an erasure while events about the subject wait for the disk leaves none of them', () => {
  const { store, done } = open()
  try {
    tick(store, 0)
    full(store)
    tick(store, 1)
    store.erase('s')
    room(store)
    store.retry.flush()
    assert.deepEqual(store.unsent(), [])
  } finally {
    done()
  }
})

test('a full disk: what waits is stored from a timer once there is room, with no tick to carry it (outside tester: on the event clock it waited for the next reading)', async () => {
  const { store, done } = open()
  const timer = store.retry.retryOnTimer(() => drained++)
  let drained = 0
  try {
    tick(store, 0)
    full(store)
    for (let i = 1; i < 5; i++) tick(store, i)
    assert.equal(store.retry.waitingEvents, 4)
    room(store)
    const until = Date.now() + 5000
    while (store.retry.waiting > 0 && Date.now() < until) await new Promise(r => setTimeout(r, 20))
    assert.equal(store.retry.waiting, 0)
    assert.equal(drained, 1)
    assert.equal(store.unpublished().length, 5)
  } finally {
    clearInterval(timer)
    done()
  }
})
