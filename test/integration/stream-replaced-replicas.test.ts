// The s12 re-tester's RS-repro/01 (PostgreSQL, two replicas): a phone's four trigger streams died
// on replica A (a network change: no FIN ever comes) and its new stream, sent by the load balancer
// to replica B, was 429 INSTORE_TOO_MANY_STREAMS until the dead sockets ended (TCP retries, up to
// ~15 min): a device's new stream replaced its own oldest only on the replica holding it. Now the
// leases carry their start and any replica takes the device's oldest lease; the replica that held
// it ends that stream at once (a `lease` signal), or at its next renewal. Two real server
// processes on one database; dead paths are relays that stop forwarding and never close.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { waitFor } from '../helpers/gateway.ts'
import { registerDevice, startChain } from '../helpers/replicas.ts'
import { closedWithin, metric, openTriggers, relay, type Opened } from '../helpers/streams.ts'
import { serverDb, TEST_ENGINE } from '../helpers/postgres.ts'
import { startProc, startServer, type Proc } from '../helpers/procs.ts'
import { DEFAULT_STREAM_LIMITS } from '../../server/hubs/stream-slots.ts'

const ADMIN = 'adm_streams_replicas_0123456789'
const CAP = DEFAULT_STREAM_LIMITS.streamsPerDevice
const connections = async (url: string) => ((await (await fetch(`${url}/healthz`)).json()) as { sseConnections: number }).sseConnections

/** Two server processes on one PostgreSQL database. */
async function twoReplicas(): Promise<Array<Proc & { url: string }>> {
  const dir = mkdtempSync(join(tmpdir(), 'streams-replicas-'))
  const a = await startServer(dir, ADMIN)
  const { databaseUrl } = await serverDb(dir)
  const b = await startProc(
    'instore-server',
    ['--port', '0', '--data', mkdtempSync(join(tmpdir(), 'streams-replicas-b-')), '--admin-token', ADMIN, '--database-url', databaseUrl as string],
    /"server started"/
  )
  return [a, { ...b, url: (/"url":"(http:\/\/[0-9.:]+)"/.exec(b.out()) as RegExpExecArray)[1] }]
}

/** The device's dead streams: one through a frozen relay to each of `to`, in order (the first is the oldest). */
async function deadStreams(to: string[], dev: { deviceId: string; token: string }): Promise<Array<Awaited<ReturnType<typeof relay>>>> {
  const relays = []
  for (const url of to) {
    const r = await relay(Number(new URL(url).port))
    relays.push(r)
    assert.equal((await openTriggers(r.url, dev.deviceId, dev.token)).status, 200)
    r.freeze()
  }
  return relays
}

if (TEST_ENGINE === 'postgres')
  test("a phone's dead trigger streams on another replica give their places to its new stream there", { timeout: 120_000 }, async () => {
    const [a, b] = await twoReplicas()
    const relays: Array<Awaited<ReturnType<typeof relay>>> = []
    const open: Opened[] = []
    try {
      // The repro: four dead on A, the new stream on B.
      const dev = await registerDevice(a.url)
      relays.push(...(await deadStreams(Array(CAP).fill(a.url), dev)))
      await waitFor(async () => (await connections(a.url)) === CAP, 10_000, 'the dead streams held by A')
      const live = await openTriggers(b.url, dev.deviceId, dev.token)
      open.push(live)
      assert.equal(live.status, 200, `the phone's new stream on B: ${live.error}`)
      // A ended the oldest dead one, and only it.
      await closedWithin(relays[0])
      await waitFor(async () => (await connections(a.url)) === CAP - 1, 10_000, 'A to let the replaced stream go')
      assert.equal(await metric(a.url, 'instore_server_streams_replaced_total'), 1)
      assert.equal(await metric(b.url, 'instore_server_streams_refused_total{limit="device"}'), 0)
      // Each next stream on B takes the next oldest on A.
      const again = await openTriggers(b.url, dev.deviceId, dev.token)
      open.push(again)
      assert.equal(again.status, 200)
      await closedWithin(relays[1])

      // MIX: two dead on A, two on B, the new stream on A: the oldest (on A) goes, wherever it is.
      const other = await registerDevice(a.url)
      const mixed = await deadStreams([a.url, a.url, b.url, b.url], other)
      relays.push(...mixed)
      const onA = await openTriggers(a.url, other.deviceId, other.token)
      open.push(onA)
      assert.equal(onA.status, 200, `the new stream on A: ${onA.error}`)
      await closedWithin(mixed[0])
      // And the next one, on A again: the oldest left is on A too; then B's, from A.
      for (const i of [1, 2]) {
        const s = await openTriggers(a.url, other.deviceId, other.token)
        open.push(s)
        assert.equal(s.status, 200)
        await closedWithin(mixed[i])
      }
      assert.equal(await metric(b.url, 'instore_server_streams_replaced_total'), 1)
    } finally {
      for (const o of open) o.close()
      for (const r of relays) r.close()
      await a.stop()
      await b.stop()
    }
  })

// A lease gone from the table (taken while its signal was lost, or lapsed while its replica
// stalled) is noticed at the replica's next renewal: its stream ends, its place counted by nobody.
if (TEST_ENGINE === 'postgres')
  test('a trigger stream whose lease is gone ends at its replica’s next renewal', async () => {
    const chain = await startChain('streams-lease-gone', 1, undefined, { streamLeaseMs: 900 })
    const url = chain.replicas[0].url
    const client = new pg.Client({ connectionString: (await serverDb(chain.dataDir)).databaseUrl })
    let s: Opened | null = null
    try {
      await client.connect()
      const dev = await registerDevice(url)
      s = await openTriggers(url, dev.deviceId, dev.token)
      assert.equal(s.status, 200)
      await waitFor(async () => (await client.query("SELECT id FROM stream_leases WHERE kind = 'device'")).rows.length === 1, 10_000, 'the lease')
      assert.equal(await connections(url), 1)
      await client.query("DELETE FROM stream_leases WHERE kind = 'device'")
      await waitFor(async () => (await connections(url)) === 0, 10_000, 'the stream to end')
    } finally {
      s?.close()
      await client.end().catch(() => {})
      await chain.close()
    }
  })
