// An outside tester's case (PostgreSQL, 2026-12-06): a live snapshot's positions were checked for
// consent before it was stored, so a snapshot being written while its shopper was erased on another
// replica was stored with them, after the erasure had looked for snapshots to empty: a dashboard
// connecting afterwards was shown the erased shopper. Now the check is read in the snapshot's own
// transaction, the device rows held. The interleaving is forced, not hoped for: on PostgreSQL a
// test connection holds the store's live_snapshots row, so the snapshot stops between its consent
// read and its store; the erasure runs on the other replica meanwhile; then the row is let go.
// Only the PostgreSQL half is a regression test (it fails on the code before). The SQLite half
// passes on the code before too, and is kept as a guard of the one-process path: the erasure is
// started from inside the consent read but not awaited there, since on the fixed code that read
// runs in the storing transaction, which holds SQLite's one connection: an erasure awaited inside
// it could never run (a deadlock), so the interleaving the PostgreSQL half forces cannot be forced here.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import { api } from '../helpers/procs.ts'
import { waitFor } from '../helpers/gateway.ts'
import { startChain, registerDevice, type Chain } from '../helpers/replicas.ts'
import { openSse, type Opened } from '../helpers/streams.ts'
import { serverDb, TEST_ENGINE } from '../helpers/postgres.ts'

const at = (subject: string, ts: number) => ({ subject, ts, x: 1, y: 1, floor: 0, accuracyM: 2, shop: 'boutique', sector: 'women', source: 'ble' as const })
const snap = (chain: Chain, url: string, ts: number, subjects: string[]) =>
  api(`${url}/v1/stores/s1/live`, chain.gw.s1, 'POST', { ts, positions: subjects.map(s => at(s, ts)), occupancy: null })
const erase = (url: string, d: { deviceId: string; token: string }) => api(`${url}/v1/devices/${d.deviceId}`, d.token, 'DELETE')

/** What a dashboard connecting to `url` now is shown: every snapshot up to the marker posted after it connected. */
async function shownAfter(chain: Chain, url: string, marker: number): Promise<Array<{ ts: number; positions: Array<{ subject: string }> }>> {
  const dash: Opened = await openSse(url, '/v1/stores/s1/live', chain.admin)
  try {
    assert.equal(dash.status, 200)
    assert.equal((await snap(chain, chain.replicas[0].url, marker, ['ble:marker'])).status, 204)
    const shown = () => dash.events.filter(e => e.event === 'snapshot').map(e => JSON.parse(e.data) as { ts: number; positions: Array<{ subject: string }> })
    await waitFor(() => shown().some(s => s.ts === marker), 10_000, 'the marker snapshot on the dashboard')
    return shown()
  } finally {
    dash.close()
  }
}

test(`a snapshot stored while its shopper is erased on another replica is not shown afterwards (${TEST_ENGINE})`, async () => {
  const chain = await startChain('live-erasure-race', 2, undefined, { liveMinIntervalMs: 0 })
  const [a, b] = chain.replicas
  const client = TEST_ENGINE === 'postgres' ? new pg.Client({ connectionString: (await serverDb(chain.dataDir)).databaseUrl }) : null
  try {
    const d = await registerDevice(a.url)
    assert.equal((await snap(chain, a.url, 1, ['ble:before'])).status, 204)
    let posted: Promise<{ status: number }>
    let erased: Promise<{ status: number }>
    if (client) {
      await client.connect()
      // Which backends wait for a lock, by what they run: the snapshot's upsert, the erasure's row lock.
      // pg_stat_activity is read afresh each time (inside a transaction it would be read once).
      const waiting = async (like: string) => {
        await client.query('SELECT pg_stat_clear_snapshot()')
        const r = await client.query<{ n: string }>(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database() AND pid <> pg_backend_pid() AND query LIKE $1",
          [like]
        )
        return Number(r.rows[0].n)
      }
      await client.query('BEGIN')
      await client.query("SELECT version FROM live_snapshots WHERE store_id = 's1' FOR UPDATE")
      // The snapshot showing the shopper, its consent read done, stops at the store's row.
      posted = snap(chain, a.url, 2, [d.subject])
      await waitFor(async () => (await waiting('%live_snapshots%')) === 1, 10_000, 'the snapshot to wait at its store')
      // The erasure on the other replica: done before the snapshot is stored (as before), or waiting for it.
      let done = false
      erased = erase(b.url, d).then(r => {
        done = true
        return r
      })
      await waitFor(async () => done || (await waiting('%devices%')) === 1, 10_000, 'the erasure to end or wait for the snapshot')
      await client.query('COMMIT')
    } else {
      // One process: the erasure is sent just after the snapshot's consent read, before its store,
      // and runs once the snapshot's transaction lets the connection go (not a regression test: see the top).
      const read = a.ctx.consent.permitted.bind(a.ctx.consent)
      let sent: Promise<{ status: number }> | null = null
      a.ctx.consent.permitted = async (subjects, q) => {
        const ok = await read(subjects, q)
        if (subjects.includes(d.subject)) sent ??= erase(b.url, d)
        return ok
      }
      posted = snap(chain, a.url, 2, [d.subject])
      assert.equal((await posted).status, 204)
      await waitFor(() => sent !== null, 10_000, 'the erasure sent')
      erased = sent as unknown as Promise<{ status: number }>
    }
    assert.equal((await erased).status, 204)
    // Stored, the shopper in it or not: what matters is what is shown after.
    assert.equal((await posted).status, 204)
    for (const [i, r] of [b, a].entries()) {
      const shown = await shownAfter(chain, r.url, 10 + i)
      assert.deepEqual(
        shown.filter(s => s.positions.some(p => p.subject === d.subject)).map(s => s.ts),
        [],
        `a dashboard connecting to replica ${r === a ? 'A' : 'B'} after the erasure is shown the erased shopper`
      )
    }
  } finally {
    if (client) await client.end().catch(() => {})
    await chain.close()
  }
})
