// Edge cases of the PostgreSQL stream leases a reviewer found (s13): a replica whose clock ran
// ahead of the others' by more than a lease's time deleted their live leases as lapsed at each of
// its renewals, and they ended all their streams (expiry was each replica's own Date.now(); it is
// the database's clock now); and a dashboard's live stream whose lease was found gone stayed open,
// counted by no replica (it ends now, like a trigger stream).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import pg from 'pg'
import { waitFor } from '../helpers/gateway.ts'
import { registerDevice, startChain } from '../helpers/replicas.ts'
import { openSse, openTriggers, type Opened } from '../helpers/streams.ts'
import { serverDb, TEST_ENGINE } from '../helpers/postgres.ts'
import { startProc, type Proc } from '../helpers/procs.ts'

const connections = async (url: string) => ((await (await fetch(`${url}/healthz`)).json()) as { sseConnections: number }).sseConnections

/** A server process on `databaseUrl` whose clock runs `aheadMs` ahead of the machine's (Date.now patched before the server loads). */
async function skewedReplica(databaseUrl: string, admin: string, aheadMs: number): Promise<Proc & { url: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'streams-skewed-'))
  const skew = join(dir, 'skew.mjs')
  writeFileSync(skew, `const real = Date.now\nDate.now = () => real() + ${aheadMs}\n`)
  const before = process.env.NODE_OPTIONS
  process.env.NODE_OPTIONS = `${before ?? ''} --import ${pathToFileURL(skew).href}`.trim()
  try {
    const p = await startProc('instore-server', ['--port', '0', '--data', dir, '--admin-token', admin, '--database-url', databaseUrl], /"server started"/)
    return { ...p, url: (/"url":"(http:\/\/[0-9.:]+)"/.exec(p.out()) as RegExpExecArray)[1] }
  } finally {
    if (before === undefined) delete process.env.NODE_OPTIONS
    else process.env.NODE_OPTIONS = before
  }
}

if (TEST_ENGINE === 'postgres')
  test("a replica whose clock runs ahead ends none of the others' streams", { timeout: 120_000 }, async () => {
    const chain = await startChain('streams-lease-skew', 1, undefined, { streamLeaseMs: 900 })
    const a = chain.replicas[0].url
    const { databaseUrl } = await serverDb(chain.dataDir)
    const client = new pg.Client({ connectionString: databaseUrl })
    let b: (Proc & { url: string }) | null = null
    const open: Opened[] = []
    try {
      await client.connect()
      // Two minutes ahead: far past its own lease time (30 s) and A's (0.9 s).
      b = await skewedReplica(databaseUrl as string, chain.admin, 120_000)
      const onA = await registerDevice(a)
      const s = await openTriggers(a, onA.deviceId, onA.token)
      open.push(s)
      assert.equal(s.status, 200)
      // A stream on B starts its renewals (every third of 30 s), each followed by its sweep of lapsed leases.
      const onB = await registerDevice(b.url)
      const sb = await openTriggers(b.url, onB.deviceId, onB.token)
      open.push(sb)
      assert.equal(sb.status, 200)
      const bLease = async () =>
        (await client.query("SELECT expires FROM stream_leases WHERE owner = $1 AND kind = 'device'", [onB.deviceId])).rows[0]?.expires as string | undefined
      const seen = new Set<string>()
      const first = await bLease()
      if (first !== undefined) seen.add(first)
      // Two renewals of B's lease: B's sweep after the first one has run, and A has renewed since.
      await waitFor(
        async () => {
          const e = await bLease()
          if (e !== undefined) seen.add(e)
          return seen.size >= 3 || s.ended
        },
        60_000,
        "B's renewals"
      )
      assert.equal(s.ended, false, "A's stream ended: B swept its lease as lapsed by B's clock")
      assert.equal(await connections(a), 1)
      assert.equal((await client.query("SELECT id FROM stream_leases WHERE owner = $1 AND kind = 'device'", [onA.deviceId])).rows.length, 1)
    } finally {
      for (const o of open) o.close()
      await b?.stop()
      await client.end().catch(() => {})
      await chain.close()
    }
  })

// Its lease gone (its replica stalled past the lease time and another swept it): no replica counts
// the live stream any more, so it ends and the dashboard reconnects, counted again.
if (TEST_ENGINE === 'postgres')
  test('a live stream whose lease is gone ends at its replica’s next renewal', async () => {
    const chain = await startChain('streams-live-lease-gone', 1, undefined, { streamLeaseMs: 900 })
    const url = chain.replicas[0].url
    const client = new pg.Client({ connectionString: (await serverDb(chain.dataDir)).databaseUrl })
    let s: Opened | null = null
    try {
      await client.connect()
      s = await openSse(url, '/v1/stores/s1/live', chain.manager.s1)
      assert.equal(s.status, 200)
      await waitFor(async () => (await client.query("SELECT id FROM stream_leases WHERE kind = 'live'")).rows.length === 1, 10_000, 'the lease')
      await client.query("DELETE FROM stream_leases WHERE kind = 'live'")
      const live = s
      await waitFor(() => live.ended, 10_000, 'the live stream to end')
      await waitFor(async () => (await connections(url)) === 0, 10_000, 'its place given back')
    } finally {
      s?.close()
      await client.end().catch(() => {})
      await chain.close()
    }
  })
