// Live dashboard fan-out: the last snapshot of each store and the SSE listeners following it.
// Apart from routes/dashboard.ts so that the server's Context can name it without importing a route.
// On SQLite (one process) snapshots stay in this process's memory. On PostgreSQL any replica may
// take a gateway's post and any other may hold a dashboard's stream: the snapshot is upserted
// (one row per store, no history) and a NOTIFY `live:<version>:<storeId>` tells every replica,
// which reads the row only if it holds a stream of that store. Each snapshot carries the store's
// row version, and each stream sends a version once, so a notification doubled, or arriving
// after the stream read the row itself, never repeats a snapshot. Events a gateway posted go to
// the other replicas in the notification itself (no row to read; at most EVENT_NOTIFY_BYTES each,
// under PostgreSQL's limit on a payload), marked with the sending replica so it skips its own.
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import type { DataStore, Q } from '../db/db.ts'
import { retryConflicts } from '../db/retry.ts'

/** A NOTIFY payload must stay under 8,000 bytes: events go in chunks of at most this. */
const EVENT_NOTIFY_BYTES = 7000
/** PostgreSQL: the longest a snapshot waits for the rows of the devices it shows (an erasure holds one while it deletes), ms. */
const SNAPSHOT_LOCK_WAIT_MS = 5_000

type Listener = (event: string, data: string, version: number) => void
export interface Snapshot {
  version: number
  text: string
}

/**
 * The app subjects a snapshot shows, as ` app:… app:… ` (each between spaces): the only subjects
 * a consent change or an erasure can concern, so forget() reads this, not the snapshot.
 */
export function appsOf(snapshot: unknown): string {
  const positions = (snapshot as { positions?: unknown } | null)?.positions
  const apps = new Set<string>()
  if (Array.isArray(positions))
    for (const p of positions) {
      const s = (p as { subject?: unknown } | null)?.subject
      if (typeof s === 'string' && s.slice(0, 4).toLowerCase() === 'app:') apps.add(s)
    }
  return apps.size === 0 ? ' ' : ` ${[...apps].join(' ')} `
}

/** Sent to a store's streams when its latest snapshot was erased: what they queued of it goes. */
export const ERASED = 'erased'
/** Sent to every store's streams, with the subject, at an erasure or withdrawal: events they queued about it go. */
export const FORGOTTEN = 'forgotten'

export class LiveHub {
  private readonly listeners = new Map<string, Set<Listener>>()
  /** The last snapshot of each store and its appsOf(), on SQLite (on PostgreSQL the table live_snapshots holds it). */
  private readonly last = new Map<string, Snapshot & { apps: string }>()
  /** The highest version read or written here per store, so a replica's own notification costs no read. */
  private readonly known = new Map<string, number>()
  /**
   * Per store, the version its last erasure emptied: a snapshot of that version or older, fanned out
   * late (its post's commit came just before the erasure), is never sent after the `erased`.
   */
  private readonly erasedAt = new Map<string, number>()
  private started = false
  /** This replica, in the events it relays, so that it skips its own. */
  private readonly replica = randomUUID()
  constructor(private readonly data: DataStore | null = null) {}

  private get shared(): DataStore | null {
    return this.data?.engine === 'postgres' ? this.data : null
  }

  /** Listens to the other replicas' snapshots (PostgreSQL only; idempotent). */
  start(): void {
    const data = this.shared
    if (!data || this.started) return
    this.started = true
    data.onSignal('event', payload => {
      let m: { r?: unknown; s?: unknown; e?: unknown; x?: unknown }
      try {
        m = JSON.parse(payload) as typeof m
      } catch {
        return
      }
      if (m.r !== this.replica && typeof m.x === 'string') this.forgetEvents(m.x)
      if (m.r === this.replica || typeof m.s !== 'string' || !Array.isArray(m.e) || !this.listeners.get(m.s)?.size) return
      for (const e of m.e) this.fanOut(m.s, 'event', { version: 0, text: JSON.stringify(e) })
    })
    data.onSignal(
      'live',
      payload => {
        const at = payload.indexOf(':')
        const version = Number(payload.slice(0, at))
        const storeId = payload.slice(at + 1)
        if (!this.listeners.get(storeId)?.size || version <= (this.known.get(storeId) ?? 0)) return
        void this.row(storeId).then(
          s => {
            if (s && s.text !== '') this.fanOut(storeId, 'snapshot', s)
            else if (s) this.erased(storeId, s.version)
          },
          () => {}
        )
      },
      () => {
        // Notifications were lost while the channel was down: every followed store reads its row again.
        for (const storeId of this.listeners.keys())
          void this.latest(storeId).then(
            s => {
              if (s) this.fanOut(storeId, 'snapshot', s)
            },
            () => {}
          )
      }
    )
  }

  /**
   * Relays accepted events to the store's streams on this replica and, on PostgreSQL, on every
   * other; how many were too big for a notification (those reach this replica's streams only).
   */
  async publishEvents(storeId: string, events: unknown[]): Promise<number> {
    const texts = events.map(e => JSON.stringify(e))
    for (const text of texts) this.fanOut(storeId, 'event', { version: 0, text })
    const data = this.shared
    if (!data) return 0
    const head = `{"r":${JSON.stringify(this.replica)},"s":${JSON.stringify(storeId)},"e":[`
    let chunk: string[] = []
    let size = head.length + 2
    let tooBig = 0
    const send = async (): Promise<void> => {
      if (chunk.length > 0) await data.signal(data.db, 'event', `${head}${chunk.join(',')}]}`)
      chunk = []
      size = head.length + 2
    }
    for (const text of texts) {
      const bytes = Buffer.byteLength(text) + 1
      // An event too big for a notification stays on this replica's streams (it is stored all the same).
      if (head.length + 2 + bytes > EVENT_NOTIFY_BYTES) {
        tooBig++
        continue
      }
      if (size + bytes > EVENT_NOTIFY_BYTES) await send()
      chunk.push(text)
      size += bytes
    }
    await send()
    return tooBig
  }

  /** Keeps `snapshot` as the store's latest and sends it to every stream of the store, on every replica. */
  async publishSnapshot(storeId: string, snapshot: unknown): Promise<void> {
    if (this.data) return await this.publishVetted(storeId, async () => snapshot)
    // No database (a hub on its own): kept in memory, as on SQLite.
    const s = { version: (this.last.get(storeId)?.version ?? 0) + 1, text: JSON.stringify(snapshot) }
    this.last.set(storeId, { ...s, apps: appsOf(snapshot) })
    this.fanOut(storeId, 'snapshot', s)
  }

  /**
   * publishSnapshot() of what `vet` makes, read in the transaction that stores it: a gateway's
   * snapshot filtered by presence consent. An erasure or a withdrawal elsewhere then either came
   * first and `vet` sees it, or comes after the store and its forget() finds the stored row: never
   * between the consent read and the store (an outside tester, PostgreSQL, 2026-12-06). On
   * PostgreSQL `vet` holds the rows it reads (FOR SHARE), which the erasure must lock first; on
   * SQLite the transaction holds the one connection, and the memory copy is set inside it.
   * Deadlocks are run again (retryConflicts); a lock not granted in time is a 503 (isBusy).
   */
  async publishVetted(storeId: string, vet: (q: Q) => Promise<unknown>): Promise<void> {
    const data = this.data
    if (!data) throw new Error('a live hub without a database has no consent to vet a snapshot against')
    let s: Snapshot
    if (data.engine !== 'postgres')
      s = await data.db.transaction().execute(async trx => {
        const snapshot = await vet(trx)
        const t = { version: (this.last.get(storeId)?.version ?? 0) + 1, text: JSON.stringify(snapshot) }
        this.last.set(storeId, { ...t, apps: appsOf(snapshot) })
        return t
      })
    else
      s = await retryConflicts(() =>
        data.db.transaction().execute(async trx => {
          await sql`SELECT set_config('lock_timeout', ${`${SNAPSHOT_LOCK_WAIT_MS}ms`}, true)`.execute(trx)
          const snapshot = await vet(trx)
          const text = JSON.stringify(snapshot)
          const r = await trx
            .insertInto('live_snapshots')
            .values({ store_id: storeId, body: text, apps: appsOf(snapshot), version: 1, updated: Date.now() })
            .onConflict(oc =>
              oc.column('store_id').doUpdateSet(eb => ({
                body: eb.ref('excluded.body'),
                apps: eb.ref('excluded.apps'),
                updated: eb.ref('excluded.updated'),
                version: eb('live_snapshots.version', '+', 1)
              }))
            )
            .returning('version')
            .executeTakeFirstOrThrow()
          await data.signal(trx, 'live', `${r.version}:${storeId}`)
          return { version: Number(r.version), text }
        })
      )
    this.fanOut(storeId, 'snapshot', s)
  }

  /** Follows a store: its latest snapshot at once (from whichever replica it came), then every new one once. */
  async follow(storeId: string, send: (event: string, data: string) => void): Promise<() => void> {
    let seen = 0
    const off = this.subscribe(storeId, (event, text, version) => {
      if (event === 'snapshot') {
        if (version <= seen) return
        seen = version
      }
      send(event, text)
    })
    const latest = await this.latest(storeId)
    if (latest && latest.version > seen) {
      seen = latest.version
      send('snapshot', latest.text)
    }
    return off
  }

  /**
   * Drops every last snapshot that shows `subject` (an erasure), on every replica. The row stays,
   * emptied, so that versions keep rising and streams already open take the next snapshot. Those
   * streams are sent `erased`: a snapshot queued for a stalled one is dropped, not written later.
   * Only the snapshots' lists of app subjects are read (appsOf), so that its cost does not grow with
   * what the chain's dashboards show: anyone may withdraw consent, as often as they like.
   */
  async forget(subject: string): Promise<void> {
    const data = this.shared
    const needle = ` ${subject} `
    // Events about the subject relayed earlier may wait in a stream that is behind, in any store, on any replica.
    this.forgetEvents(subject)
    if (data) await data.signal(data.db, 'event', JSON.stringify({ r: this.replica, x: subject }))
    if (!data) {
      for (const [store, s] of this.last)
        if (s.apps.includes(needle)) {
          this.last.set(store, { version: s.version, text: '', apps: ' ' })
          this.erased(store, s.version)
        }
      return
    }
    // A row stored before migration 013 has no list yet: its body is searched, in the database.
    const rows = await data.db
      .selectFrom('live_snapshots')
      .select('store_id')
      .where(eb => eb.or([sql<boolean>`strpos(apps, ${needle}) > 0`, eb.and([eb('apps', 'is', null), sql<boolean>`strpos(body, ${subject}) > 0`])]))
      .execute()
    const stores = rows.map(r => r.store_id)
    if (stores.length === 0) return
    const bumped = await data.db.transaction().execute(async trx => {
      const bumped = await trx
        .updateTable('live_snapshots')
        .set(eb => ({ body: '', apps: ' ', version: eb('version', '+', 1) }))
        .where('store_id', 'in', stores)
        .returning(['store_id', 'version'])
        .execute()
      // The other replicas read the row again, find it erased, and tell their streams.
      for (const r of bumped) await data.signal(trx, 'live', `${r.version}:${r.store_id}`)
      return bumped
    })
    for (const r of bumped) this.erased(r.store_id, Number(r.version))
  }

  /** The store's latest snapshot, whichever replica took it; none if there is none or it was erased. */
  async latest(storeId: string): Promise<Snapshot | undefined> {
    const r = await this.row(storeId)
    return r && r.text !== '' ? r : undefined
  }

  /** The store's row as it is (its text empty once erased). */
  private async row(storeId: string): Promise<Snapshot | undefined> {
    const data = this.shared
    if (!data) return this.last.get(storeId)
    const r = await data.db.selectFrom('live_snapshots').select(['body', 'version']).where('store_id', '=', storeId).executeTakeFirst()
    return r && { version: Number(r.version), text: r.body }
  }

  /** The store's snapshot of `version` and older were erased: its streams drop what they queued of them. */
  private erased(storeId: string, version: number): void {
    if (version > (this.erasedAt.get(storeId) ?? 0)) this.erasedAt.set(storeId, version)
    this.fanOut(storeId, ERASED, { version: 0, text: '' })
  }

  private forgetEvents(subject: string): void {
    for (const storeId of [...this.listeners.keys()]) this.fanOut(storeId, FORGOTTEN, { version: 0, text: subject })
  }

  private fanOut(storeId: string, event: string, s: Snapshot): void {
    if (event === 'snapshot' && s.version <= (this.erasedAt.get(storeId) ?? 0)) return
    if (event === 'snapshot' && s.version > (this.known.get(storeId) ?? 0)) this.known.set(storeId, s.version)
    for (const l of this.listeners.get(storeId) ?? []) l(event, s.text, s.version)
  }

  private subscribe(storeId: string, l: Listener): () => void {
    let set = this.listeners.get(storeId)
    if (!set) {
      set = new Set()
      this.listeners.set(storeId, set)
    }
    set.add(l)
    return () => {
      set?.delete(l)
      if (set?.size === 0 && this.listeners.get(storeId) === set) this.listeners.delete(storeId)
    }
  }
}
