// Defect 2 of the outside tester's s10 list: an erasure deleted the device's tokens by device_id
// with no index on it, reading every token of the chain (one per installed app) inside the one
// write transaction; anyone may register and erase. Every statement a registration, a consent
// change and an erasure run is captured and explained: none reads a whole table.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import { api } from '../helpers/procs.ts'
import { startChain } from '../helpers/replicas.ts'
import { TEST_ENGINE } from '../helpers/postgres.ts'

interface Reg {
  deviceId: string
  token: string
  subject: string
}

/** The statements run while `fn` runs, with their parameters (PostgreSQL) or without (SQLite). */
async function captured(sqlite: { prepare: (s: string) => unknown } | null, fn: () => Promise<void>): Promise<Array<{ sql: string; params: unknown[] }>> {
  const seen: Array<{ sql: string; params: unknown[] }> = []
  if (sqlite !== null) {
    const prepare = sqlite.prepare
    sqlite.prepare = (s: string) => {
      seen.push({ sql: s, params: [] })
      return prepare.call(sqlite, s)
    }
    try {
      await fn()
    } finally {
      sqlite.prepare = prepare
    }
    return seen
  }
  const query = pg.Client.prototype.query
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const [q, p] = args
    if (typeof q === 'string') seen.push({ sql: q, params: Array.isArray(p) ? p : [] })
    return (query as (...a: unknown[]) => unknown).apply(this, args)
  } as typeof query
  try {
    await fn()
  } finally {
    pg.Client.prototype.query = query
  }
  return seen
}

const planned = (s: string) => /^\s*(select|update|delete|insert)\b/i.test(s) && /\bwhere\b/i.test(s)

test(`registration, consent change and erasure read no whole table (${TEST_ENGINE})`, { timeout: 120_000 }, async () => {
  const chain = await startChain('erasure-plans', 1)
  try {
    const { url, ctx } = chain.replicas[0]
    const sqlite = ctx.data.sqlite as unknown as { prepare: (s: string) => unknown } | null
    const statements = await captured(sqlite, async () => {
      const r = await api<Reg>(`${url}/v1/devices`, null, 'POST', { consent: { presence: true, marketing: true } })
      assert.equal(r.status, 201)
      const d = r.body
      assert.equal((await api(`${url}/v1/devices/${d.deviceId}/consent`, d.token, 'PUT', { presence: false, marketing: false })).status, 200)
      assert.equal((await api(`${url}/v1/devices/${d.deviceId}/consent`, d.token, 'PUT', { presence: true, marketing: true })).status, 200)
      assert.equal((await api(`${url}/v1/devices/${d.deviceId}`, d.token, 'DELETE')).status, 204)
    })
    const scans: string[] = []
    const queries = [...new Map(statements.filter(s => planned(s.sql)).map(s => [s.sql, s])).values()]
    assert.ok(
      queries.some(q => /delete from "tokens"/i.test(q.sql)),
      'the erasure deletes tokens'
    )
    for (const q of queries) {
      if (ctx.data.engine === 'sqlite') {
        const db = ctx.data.sqlite
        assert.ok(db)
        const n = (q.sql.match(/\?/g) ?? []).length
        const plan = db.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...Array.from({ length: n }, () => null)) as Array<{ detail: string }>
        for (const p of plan) if (/^SCAN (?!CONSTANT ROW)/.test(p.detail)) scans.push(`${p.detail}: ${q.sql}`)
      } else {
        // Tiny tables are cheaper to read whole: the planner must be told to use an index if there is one.
        const plan = await ctx.db.connection().execute(async c => {
          const { sql } = await import('kysely')
          await sql`SET enable_seqscan = off`.execute(c)
          try {
            return (await sql.raw(`EXPLAIN ${q.sql.replace(/\$(\d+)/g, (_, i) => pgLiteral(q.params[Number(i) - 1]))}`).execute(c)).rows as Array<{ 'QUERY PLAN': string }>
          } finally {
            await sql`SET enable_seqscan = on`.execute(c)
          }
        })
        // live_snapshots holds one row per store, searched by text for the subject (live.forget).
        for (const p of plan) if (/Seq Scan on (?!config_version\b|live_snapshots\b)/.test(p['QUERY PLAN'])) scans.push(`${p['QUERY PLAN'].trim()}: ${q.sql}`)
      }
    }
    assert.deepEqual(scans, [])
  } finally {
    await chain.close()
  }
})

/** A parameter as a PostgreSQL literal, for EXPLAIN (which takes no bound parameters here). */
function pgLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'NULL'
  if (typeof v === 'number' || typeof v === 'bigint') return String(v)
  if (typeof v === 'boolean') return v ? 'true' : 'false'
  return `'${String(v).replace(/'/g, "''")}'`
}
