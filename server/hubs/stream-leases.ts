// The SSE streams of every replica, as lease rows in the database (PostgreSQL; stream_leases), so
// that the caps of stream-slots.ts hold across replicas. A replica renews the leases of its open
// streams every third of their time and deletes them as its streams end or it stops; a replica
// killed outright leaves leases that lapse within `leaseMs`, so its clients' places come back.
// Each lease carries when it began: a device's new trigger stream at its cap takes the lease of
// the device's oldest stream (same token) on whichever replica holds it (re-tester, s12: a phone
// whose dead streams were held by another replica got 429 there until their sockets ended, up to
// ~15 min). The replica holding it is told at once (a `lease` signal) and finds it gone at its next
// renewal anyway; either way it ends that stream.
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import type { DataStore } from '../db/db.ts'
import type { Db } from '../db/schema.ts'
import { REFUSAL, type StreamKind, type StreamRefusal } from './stream-limits.ts'

/** The database's time, ms since the epoch (`clock_timestamp()`: the time of the statement, not of its transaction's start). */
const DB_NOW = sql`(extract(epoch from clock_timestamp()) * 1000)::bigint`
const dbNow = async (q: Db): Promise<number> => Number((await sql<{ t: string }>`SELECT ${DB_NOW} AS t`.execute(q)).rows[0].t)

export class StreamLeases {
  /** This replica, on its leases. */
  private readonly replica = randomUUID()
  /** Lease deletions under way: a new stream here waits for them, so a place given back here is free for it. */
  private readonly releasing = new Set<Promise<unknown>>()
  /** The leases of the streams open here, and how to end each one if another replica takes it: what the heartbeat renews. */
  private readonly held = new Map<string, (taken: boolean) => void>()
  private heartbeat: NodeJS.Timeout | null = null
  private listening = false
  private stopped = false

  constructor(
    private readonly data: DataStore,
    private readonly leaseMs: number
  ) {}

  /**
   * Takes a lease if every replica's live leases leave room: its id, or whose count was full. A
   * device's stream (kind `device`) at its device's or its token's cap first takes the lease of the
   * device's oldest stream opened with the same token, wherever it is held. The counts are taken
   * under transaction-scoped advisory locks of the owner and the token (in one order), so two
   * replicas cannot both take the last place. `replaced` is the lease of a stream of this replica
   * this one replaces (stream-slots.ts): not counted, that stream ends once this passes.
   */
  async take(kind: StreamKind, owner: string, tokenId: string | undefined, max: { owner: number; token: number }, replaced: string | null): Promise<string | StreamRefusal> {
    if (this.releasing.size > 0) await Promise.all([...this.releasing])
    this.start()
    const taken: string[] = []
    const id = await this.data.db.transaction().execute(async trx => {
      taken.length = 0
      const keys = [`stream:${kind}:o:${owner}`, ...(tokenId === undefined ? [] : [`stream:${kind}:t:${tokenId}`])].sort()
      for (const k of keys) await sql`SELECT pg_advisory_xact_lock(hashtext(${k}))`.execute(trx)
      // The database's clock, not this replica's: a replica whose clock runs ahead would count
      // (and delete) the others' live leases as lapsed (reviewer, s13).
      const now = await dbNow(trx)
      const live = () => {
        const q = trx.selectFrom('stream_leases').where('kind', '=', kind).where('expires', '>', now)
        return replaced === null ? q : q.where('id', '!=', replaced)
      }
      const count = async (col: 'owner' | 'token_id', v: string) =>
        Number(
          (
            await live()
              .select(eb => eb.fn.countAll().as('n'))
              .where(col, '=', v)
              .executeTakeFirstOrThrow()
          ).n
        )
      let byOwner = await count('owner', owner)
      let byToken = tokenId === undefined ? 0 : await count('token_id', tokenId)
      if (kind === 'device' && tokenId !== undefined && (byOwner >= max.owner || byToken >= max.token)) {
        // The oldest first (a lease from before migration 020 has no start: older than any).
        const oldest = await live()
          .select('id')
          .where('owner', '=', owner)
          .where('token_id', '=', tokenId)
          .orderBy(sql`started asc nulls first`)
          .orderBy('id')
          .limit(1)
          .executeTakeFirst()
        // Taken only if that makes room: over both caps by more than one (caps lowered at a
        // restart), a stream would be ended for a newcomer refused anyway, another at each retry.
        const room = byOwner - 1 < max.owner && byToken - 1 < max.token
        if (oldest !== undefined && room) {
          await trx.deleteFrom('stream_leases').where('id', '=', oldest.id).execute()
          // Its replica ends the stream once this commits.
          await this.data.signal(trx, 'lease', oldest.id)
          taken.push(oldest.id)
          byOwner--
          byToken--
        }
      }
      if (byOwner >= max.owner) return REFUSAL[kind].owner
      if (tokenId !== undefined && byToken >= max.token) return REFUSAL[kind].token
      const id = randomUUID()
      await trx
        .insertInto('stream_leases')
        .values({ id, kind, owner, token_id: tokenId ?? null, replica: this.replica, expires: now + this.leaseMs, started: now })
        .execute()
      return id
    })
    // One of this replica's own streams: ended now, not when the signal comes back.
    for (const t of taken) this.lost(t, true)
    return id
  }

  /** Renews `id` from now on, and calls `end` if a newer stream takes it (`taken`) or the renewal finds it gone (it lapsed, or its taker's signal was lost). */
  hold(id: string, end: (taken: boolean) => void): void {
    this.held.set(id, end)
  }

  /** Gives `id` back: no longer renewed, whether or not the delete gets through (at worst it lapses). */
  release(id: string): void {
    if (!this.held.delete(id)) return
    const gone = this.data.db
      .deleteFrom('stream_leases')
      .where('id', '=', id)
      .execute()
      .catch(() => {})
    this.releasing.add(gone)
    void gone.finally(() => this.releasing.delete(gone))
  }

  /** A lease of this replica no longer in the table: its stream ends. */
  private lost(id: string, taken: boolean): void {
    const end = this.held.get(id)
    if (end === undefined) return
    this.held.delete(id)
    end(taken)
  }

  /**
   * Listens for taken leases, and renews this replica's every third of their time (only those of
   * open streams: a lease whose delete failed lapses instead of being renewed for the replica's
   * life). A lease the renewal does not find was taken, or lapsed (this replica stalled past
   * `leaseMs` and another deleted it): its stream ends, its place counted by nobody any more.
   */
  private start(): void {
    if (!this.listening) {
      this.listening = true
      this.data.onSignal('lease', id => this.lost(id, true))
    }
    if (this.heartbeat || this.stopped) return
    this.heartbeat = setInterval(
      () => {
        const ids = [...this.held.keys()]
        const db = this.data.db
        void (
          ids.length === 0
            ? Promise.resolve()
            : db
                .updateTable('stream_leases')
                .set({ expires: sql<number>`${DB_NOW} + ${this.leaseMs}` })
                .where('id', 'in', ids)
                .returning('id')
                .execute()
                .then(rows => {
                  const renewed = new Set(rows.map(r => r.id))
                  for (const id of ids) if (!renewed.has(id)) this.lost(id, false)
                })
        )
          .then(() => db.deleteFrom('stream_leases').where('expires', '<', sql<number>`${DB_NOW}`).execute())
          .catch(() => {})
      },
      Math.max(100, Math.floor(this.leaseMs / 3))
    )
    this.heartbeat.unref()
  }

  /** Stops renewing and gives back this replica's leases (a clean stop; the streams end with the server). */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.heartbeat = null
    await Promise.all([...this.releasing])
    await this.data.db
      .deleteFrom('stream_leases')
      .where('replica', '=', this.replica)
      .execute()
      .catch(() => {})
  }
}
