// The outside tester's stream findings:
// - t7: 3,000 live dashboard streams of one manager token, all 200, and /healthz and /metrics said
//   0 SSE connections. Now live streams are capped per token and per store (429
//   INSTORE_TOO_MANY_LIVE_STREAMS, counted) and counted in the gauges.
// - t4: the 4-stream cap per device was per replica (6 on each of two replicas: 8 accepted). Now
//   it holds across replicas (leases in the database), and a dead replica's leases lapse.
// - t12: the dashboard's token went in the live stream's URL. Now a token in a URL is refused.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { api } from '../helpers/procs.ts'
import { waitFor } from '../helpers/gateway.ts'
import { startChain, registerDevice } from '../helpers/replicas.ts'
import { metric, openSse, openTriggers, type Opened } from '../helpers/streams.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'
import { DEFAULT_STREAM_LIMITS } from '../../server/hubs/stream-slots.ts'

const health = async (url: string) => (await (await fetch(`${url}/healthz`)).json()) as { sseConnections: number; liveStreams: number }

test(`live dashboard streams: a few per token, a bounded number per store, 429 beyond and counted; the gauges count them (${TEST_ENGINE})`, async () => {
  const chain = await startChain('live-caps', 2, undefined, { liveStreamsPerToken: 3, liveStreamsPerStore: 5 })
  const open: Opened[] = []
  try {
    const [a, b] = chain.replicas
    const live = (url: string, token: string) => openSse(url, '/v1/stores/s1/live', token)
    // One manager's token: 3 streams, on either replica; the fourth is refused.
    for (const r of [a, b, a]) open.push(await live(r.url, chain.manager.s1))
    assert.deepEqual(
      open.map(o => o.status),
      [200, 200, 200]
    )
    const more = await live(b.url, chain.manager.s1)
    assert.deepEqual([more.status, more.error], [429, 'INSTORE_TOO_MANY_LIVE_STREAMS'])
    // The store: 5 in all, whoever opens them (the admin's two more fill it).
    open.push(await live(b.url, chain.admin), await live(a.url, chain.admin))
    assert.equal(open.at(-1)?.status, 200)
    const full = await live(a.url, chain.admin)
    assert.deepEqual([full.status, full.error], [429, 'INSTORE_TOO_MANY_LIVE_STREAMS'])
    // Another store is not affected.
    const other = await openSse(a.url, '/v1/stores/s2/live', chain.admin)
    open.push(other)
    assert.equal(other.status, 200)
    const refused = async (limit: string) => {
      let n = 0
      for (const r of new Set([a, b])) n += await metric(r.url, `instore_server_streams_refused_total{limit="${limit}"}`)
      return n
    }
    assert.equal(await refused('live_token'), 1)
    assert.equal(await refused('live_store'), 1)
    // Counted where they are held: /healthz and /metrics of each replica together see all six.
    const held = async () => {
      let n = 0
      for (const r of new Set([a, b])) n += (await health(r.url)).liveStreams
      return n
    }
    await waitFor(async () => (await held()) === 6, 10_000, 'the live streams to be counted')
    assert.ok((await health(a.url)).sseConnections >= 3)
    assert.equal(await metric(a.url, 'instore_server_sse_streams{kind="live"}'), (await health(a.url)).liveStreams)
    // A stream closed gives its place back.
    ;(open.shift() as Opened).close()
    await waitFor(async () => (await live(b.url, chain.manager.s1)).status === 200, 10_000, "the closed stream's place")
    // An unknown store has no stream to follow.
    assert.equal((await openSse(a.url, '/v1/stores/nosuch/live', chain.admin)).status, 404)
  } finally {
    for (const o of open) o.close()
    await chain.close()
  }
})

test(`a token in a URL is refused on every authenticated route, before it is looked up (${TEST_ENGINE})`, async () => {
  const chain = await startChain('token-url', 1)
  try {
    const { url } = chain.replicas[0]
    for (const path of [`/v1/stores/s1/live?token=${chain.admin}`, `/v1/stores?token=${chain.admin}`, `/v1/stores/s1/live?access_token=${chain.admin}`]) {
      const r = await api<{ error: string }>(`${url}${path}`, null)
      assert.deepEqual([r.status, r.body.error], [400, 'INSTORE_TOKEN_IN_URL'], path)
    }
    const r = await api<{ error: string }>(`${url}/v1/stores?token=x`, chain.admin)
    assert.deepEqual([r.status, r.body.error], [400, 'INSTORE_TOKEN_IN_URL'], 'even beside a header')
  } finally {
    await chain.close()
  }
})

test(`a device's trigger streams are capped across replicas; a replica's leases are renewed while it lives and lapse when it dies (${TEST_ENGINE})`, async () => {
  const leaseMs = 1500
  const chain = await startChain('device-caps', 2, undefined, { streamLeaseMs: leaseMs })
  const open: Opened[] = []
  try {
    const [a, b] = chain.replicas
    const dev = await registerDevice(a.url)
    for (let i = 0; i < DEFAULT_STREAM_LIMITS.streamsPerDevice; i++) open.push(await openTriggers(a.url, dev.deviceId, dev.token))
    assert.ok(open.every(o => o.status === 200))
    const db = a.ctx.db
    if (TEST_ENGINE === 'postgres') {
      // Held past a lease's time: renewed, so they still count.
      const first = Number(
        (
          await db
            .selectFrom('stream_leases')
            .select(eb => eb.fn.max('expires').as('e'))
            .executeTakeFirstOrThrow()
        ).e
      )
      await waitFor(
        async () =>
          Number(
            (
              await db
                .selectFrom('stream_leases')
                .select(eb => eb.fn.min('expires').as('e'))
                .executeTakeFirstOrThrow()
            ).e
          ) >
          first + leaseMs,
        10_000,
        'the leases to be renewed'
      )
    }
    // On SQLite both are one server, where the device's own newer stream replaces its oldest
    // (stream-replaced.test.ts). The other replica counts them: the device's new stream there takes
    // the place of its oldest on A (stream-replaced-replicas.test.ts), never a fifth place.
    if (TEST_ENGINE === 'postgres') {
      const more = await openTriggers(b.url, dev.deviceId, dev.token)
      assert.equal(more.status, 200)
      const sse = async (url: string) => ((await (await fetch(`${url}/healthz`)).json()) as { sseConnections: number }).sseConnections
      await waitFor(async () => (await sse(a.url)) === DEFAULT_STREAM_LIMITS.streamsPerDevice - 1, 10_000, 'A to end the oldest')
      const leases = await db.selectFrom('stream_leases').select('id').where('owner', '=', dev.deviceId).execute()
      assert.equal(leases.length, DEFAULT_STREAM_LIMITS.streamsPerDevice)
      ;(open.shift() as Opened).close()
      open.push(more)
    }
    ;(open.shift() as Opened).close()
    await waitFor(
      async () => {
        const s = await openTriggers(b.url, dev.deviceId, dev.token)
        if (s.status === 200) open.push(s)
        return s.status === 200
      },
      10_000,
      "the closed stream's place on the other replica"
    )
    for (const o of open.splice(0)) o.close()
    // A replica killed outright (its leases left in the database, no one renewing them): its places
    // come back once they lapse. On SQLite one process holds every stream: no lease is kept.
    const other = await registerDevice(a.url)
    if (TEST_ENGINE === 'postgres') {
      const now = Date.now()
      await db
        .insertInto('stream_leases')
        .values(
          Array.from({ length: DEFAULT_STREAM_LIMITS.streamsPerDevice }, (_, i) => ({
            id: `dead-${i}`,
            kind: 'device',
            owner: other.deviceId,
            token_id: null,
            replica: 'dead',
            expires: now + leaseMs
          }))
        )
        .execute()
      assert.equal((await openTriggers(b.url, other.deviceId, other.token)).status, 429, "the dead replica's streams count while their leases last")
    }
    await waitFor(
      async () => {
        const s = await openTriggers(b.url, other.deviceId, other.token)
        if (s.status === 200) open.push(s)
        return s.status === 200
      },
      10_000,
      "the dead replica's leases to lapse"
    )
  } finally {
    for (const o of open) o.close()
    await chain.close()
  }
})
