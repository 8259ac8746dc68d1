// How many SSE streams each device, token and store holds open. A phone needs one trigger stream
// (two while it reconnects), an operator a dashboard or two; every stream costs a connection,
// memory and a share of each wake-up, so a script holding thousands open is refused, not served.
// Counted twice: here in memory (a flood at one replica costs it no query), and on PostgreSQL in
// the database as leases (stream_leases), so the caps hold across replicas. A replica renews its
// leases every third of their time and deletes them as its streams end or it stops; a replica
// killed outright leaves leases that lapse within `leaseMs`, so its clients' places come back.
import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import type { DataStore } from '../db/db.ts'
import { bump, DEFAULT_LEASE_MS, isRefusal, REFUSAL, type StreamKind, type StreamLimits, type StreamRefusal, type StreamSlot } from './stream-limits.ts'

export { DEFAULT_LEASE_MS, DEFAULT_STREAM_LIMITS, type StreamKind, type StreamLimits, type StreamRefusal, type StreamSlot } from './stream-limits.ts'

/** A device's trigger stream on this replica, oldest first: the one its next stream replaces at the cap. */
interface OwnerHold {
  readonly tokenId: string | undefined
  end: (() => void) | null
  release: () => void
  /** Its place at its caller address, if counted there: a replacement there takes it over. */
  address: AddressHold | null
  /** Its lease on PostgreSQL: its replacement's lease check does not count it. */
  lease: string | null
  /** Chosen to be replaced by a newer stream whose other checks are still under way. */
  chosen: boolean
}

/** A trigger stream counted against its caller address, oldest first. */
interface AddressHold {
  readonly device: string
  close: (() => void) | null
  counted: boolean
  /** Chosen to end for a newcomer whose other checks are still under way. */
  chosen: boolean
}

export class StreamSlots {
  private readonly counts = new Map<string, number>()
  /** Each address's trigger streams, oldest first: which one to end when a new device finds it full. */
  private readonly holds = new Map<string, AddressHold[]>()
  /** Each device's trigger streams here, oldest first. */
  private readonly owners = new Map<string, OwnerHold[]>()
  /** Trigger streams ended to give their place to their own device's newer stream. */
  replaced = 0
  /** Trigger streams ended to give their address's place to another device's first stream. */
  evicted = 0
  /** Streams refused, by whose count was full (instore_server_streams_refused_total). */
  readonly refused: Record<StreamRefusal, number> = { device: 0, token: 0, live_token: 0, live_store: 0, replica: 0, address: 0 }
  /** This replica, on its leases. */
  private readonly replica = randomUUID()
  /** Lease deletions under way: a new stream here waits for them, so a place given back here is free for it. */
  private readonly releasing = new Set<Promise<unknown>>()
  /** The leases of the streams open here: what the heartbeat renews. */
  private readonly leases = new Set<string>()
  private heartbeat: NodeJS.Timeout | null = null
  private stopped = false

  constructor(
    private readonly limits: Readonly<StreamLimits>,
    private readonly data: DataStore | null = null,
    private readonly leaseMs = DEFAULT_LEASE_MS,
    private readonly now: () => number = Date.now
  ) {}

  private limitsOf(kind: StreamKind): { owner: number; token: number } {
    return kind === 'device'
      ? { owner: this.limits.streamsPerDevice, token: this.limits.streamsPerToken }
      : { owner: this.limits.liveStreamsPerStore, token: this.limits.liveStreamsPerToken }
  }

  /** The database's leases, on PostgreSQL only: on SQLite one process holds every stream and its counts here are exact. */
  private get shared(): DataStore | null {
    return this.data?.engine === 'postgres' ? this.data : null
  }

  /**
   * A place for one more stream of `owner` (a device id, or a store id for `live`) opened with
   * `tokenId`. Counted here at once, before anything is awaited, so that streams opened together
   * are counted together; then, on PostgreSQL, against every replica's leases.
   * `address` is the caller's key (callerKey: an IPv6 caller by its /64).
   */
  async reserve(kind: StreamKind, owner: string, tokenId: string | undefined, address?: string): Promise<StreamSlot | StreamRefusal> {
    // Its own oldest stream at the device's cap (same token), chosen first: the places it frees (the
    // device's, the token's, its address's) are the new stream's, so neither a full address nor the
    // caps lock a phone out by its own dead streams (re-tester, s12).
    const own = kind === 'device' ? this.replaceable(owner, tokenId) : undefined
    const placed = kind === 'device' ? this.reserveReplica(address, owner, own?.address ?? undefined) : null
    if (typeof placed === 'string') return placed
    const here = placed?.slot
    const reserved = this.reserveHere(kind, owner, tokenId, own)
    if (typeof reserved === 'string') {
      here?.release()
      return reserved
    }
    reserved.hold.address = placed?.hold ?? null
    const local: StreamSlot = {
      release: () => {
        reserved.slot.release()
        here?.release()
      },
      onEvict: close => here?.onEvict?.(close),
      onReplaced: end => reserved.slot.onReplaced?.(end)
    }
    // Every check passed: only now is a stream ended for this one (its own device's, another's).
    const commit = () => {
      placed?.evict()
      reserved.replace()
    }
    const data = this.shared
    if (!data) {
      commit()
      return local
    }
    let lease: string | StreamRefusal
    try {
      lease = await this.lease(data, kind, owner, tokenId, own?.lease ?? null)
    } catch (err) {
      local.release()
      throw err
    }
    if (isRefusal(lease)) {
      local.release()
      this.refused[lease]++
      return lease
    }
    commit()
    const id = lease
    reserved.hold.lease = id
    this.leases.add(id)
    let held = true
    return {
      onEvict: local.onEvict,
      onReplaced: local.onReplaced,
      release: () => {
        if (!held) return
        held = false
        local.release()
        // No longer renewed, whether or not the delete below gets through: at worst it lapses.
        this.leases.delete(id)
        const gone = data.db
          .deleteFrom('stream_leases')
          .where('id', '=', id)
          .execute()
          .catch(() => {})
        this.releasing.add(gone)
        void gone.finally(() => this.releasing.delete(gone))
      }
    }
  }

  /**
   * A trigger stream's place on this replica: under its total and its caller address's share. A
   * full address still admits a device's first stream there, by ending the oldest stream of a
   * device that holds more than one there: a shop's shared address then takes as many devices as
   * its share, and one client's extra streams (4 per device) cannot lock new shoppers out. The
   * stream to end is only chosen here (and kept from other newcomers): `evict` ends it once every
   * other check has passed, and a newcomer refused after all gives it back untouched (re-tester,
   * s11: a device refused by its own cap ended an honest shopper's stream first).
   */
  private reserveReplica(
    address: string | undefined,
    device: string,
    own: AddressHold | undefined
  ): { slot: StreamSlot; hold: AddressHold | null; evict: () => void } | StreamRefusal {
    const totalKey = 'device|total'
    const addressKey = address === undefined ? null : `device|a|${address}`
    const holds = addressKey === null ? [] : (this.holds.get(addressKey) ?? [])
    let refusal: StreamRefusal | null = (this.counts.get(totalKey) ?? 0) >= this.limits.triggerStreamsPerReplica ? 'replica' : null
    let victim: AddressHold | undefined
    if (refusal === null && addressKey !== null && (this.counts.get(addressKey) ?? 0) >= this.limits.triggerStreamsPerAddress) {
      // A device's streams already chosen by other newcomers do not count: it keeps one at least.
      const free = (h: AddressHold) => h.close !== null && !h.chosen && h.counted
      // The device's own stream it replaces here: its place is the new one's (ended by the replacement).
      victim =
        own !== undefined && holds.includes(own) && own.counted && !own.chosen
          ? own
          : holds.some(h => h.device === device)
            ? undefined
            : holds.find(h => free(h) && holds.filter(o => o.device === h.device && free(o)).length > 1)
      if (victim === undefined) refusal = 'address'
    }
    if (refusal) {
      this.refused[refusal]++
      return refusal
    }
    const hold: AddressHold = { device, close: null, counted: addressKey !== null, chosen: false }
    const uncount = (h: AddressHold) => {
      if (!h.counted || addressKey === null) return
      h.counted = false
      bump(this.counts, addressKey, -1)
      const rest = holds.filter(o => o !== h)
      holds.splice(0, holds.length, ...rest)
      if (holds.length === 0) this.holds.delete(addressKey)
    }
    if (victim !== undefined) victim.chosen = true
    bump(this.counts, totalKey, 1)
    if (addressKey !== null) {
      bump(this.counts, addressKey, 1)
      holds.push(hold)
      this.holds.set(addressKey, holds)
    }
    let held = true
    let pending = victim
    const slot: StreamSlot = {
      release: () => {
        if (!held) return
        held = false
        bump(this.counts, totalKey, -1)
        uncount(hold)
        // Refused after all: the stream chosen stays, and may be chosen by another newcomer.
        if (pending !== undefined) pending.chosen = false
        pending = undefined
      },
      onEvict: close => {
        if (held) hold.close = close
      }
    }
    const evict = () => {
      const v = pending
      pending = undefined
      if (v === undefined || !held) return
      v.chosen = false
      // Gone meanwhile (its socket closed): its place is free already.
      if (!v.counted) return
      // Its place is this stream's from now: the victim's own release, when its socket closes, does not give it back twice.
      uncount(v)
      // The device's own stream is ended (and counted) by its replacement.
      if (v === own) return
      this.evicted++
      v.close?.()
    }
    return { slot, hold: addressKey === null ? null : hold, evict }
  }

  /** A device at its cap: its oldest stream here opened with the same token, which its new stream replaces. */
  private replaceable(owner: string, tokenId: string | undefined): OwnerHold | undefined {
    const ownerKey = `device|o|${owner}`
    if ((this.counts.get(ownerKey) ?? 0) < this.limits.streamsPerDevice) return undefined
    return this.owners.get(ownerKey)?.find(h => h.end !== null && h.tokenId === tokenId && !h.chosen)
  }

  private reserveHere(
    kind: StreamKind,
    owner: string,
    tokenId: string | undefined,
    own: OwnerHold | undefined
  ): { slot: StreamSlot; hold: OwnerHold; replace: () => void } | StreamRefusal {
    const max = this.limitsOf(kind)
    const ownerKey = `${kind}|o|${owner}`
    const tokenKey = tokenId === undefined ? null : `${kind}|t|${tokenId}`
    const mine = kind === 'device' ? (this.owners.get(ownerKey) ?? []) : []
    // The stream replaced frees one place of the device and one of its token (the same token).
    const freed = own === undefined ? 0 : 1
    const refusal: StreamRefusal | null =
      (this.counts.get(ownerKey) ?? 0) - freed >= max.owner
        ? REFUSAL[kind].owner
        : tokenKey !== null && (this.counts.get(tokenKey) ?? 0) - freed >= max.token
          ? REFUSAL[kind].token
          : null
    if (refusal) {
      this.refused[refusal]++
      return refusal
    }
    let pending = own
    if (pending !== undefined) pending.chosen = true
    bump(this.counts, ownerKey, 1)
    if (tokenKey !== null) bump(this.counts, tokenKey, 1)
    let held = true
    const hold: OwnerHold = {
      tokenId,
      end: null,
      address: null,
      lease: null,
      chosen: false,
      release: () => {
        if (!held) return
        held = false
        // Refused after all: the stream chosen stays.
        if (pending !== undefined) pending.chosen = false
        pending = undefined
        bump(this.counts, ownerKey, -1)
        if (tokenKey !== null) bump(this.counts, tokenKey, -1)
        const at = mine.indexOf(hold)
        if (at >= 0) mine.splice(at, 1)
        if (mine.length === 0) this.owners.delete(ownerKey)
      }
    }
    if (kind === 'device') {
      mine.push(hold)
      this.owners.set(ownerKey, mine)
    }
    const replace = () => {
      const v = pending
      pending = undefined
      if (v === undefined || !held) return
      v.chosen = false
      v.release()
      this.replaced++
      v.end?.()
    }
    const slot: StreamSlot = {
      release: hold.release,
      onReplaced: end => {
        if (held) hold.end = end
      }
    }
    return { slot, hold, replace }
  }

  /**
   * Takes a lease if every replica's live leases leave room: its id, or whose count was full.
   * The counts are taken under transaction-scoped advisory locks of the owner and the token (in
   * one order), so two replicas cannot both take the last place.
   */
  private async lease(data: DataStore, kind: StreamKind, owner: string, tokenId: string | undefined, replaced: string | null): Promise<string | StreamRefusal> {
    if (this.releasing.size > 0) await Promise.all([...this.releasing])
    this.startHeartbeat()
    const max = this.limitsOf(kind)
    return await data.db.transaction().execute(async trx => {
      const keys = [`stream:${kind}:o:${owner}`, ...(tokenId === undefined ? [] : [`stream:${kind}:t:${tokenId}`])].sort()
      for (const k of keys) await sql`SELECT pg_advisory_xact_lock(hashtext(${k}))`.execute(trx)
      const now = this.now()
      // The lease of the stream this one replaces is not counted: that stream ends once this passes.
      const live = () => {
        const q = trx
          .selectFrom('stream_leases')
          .select(eb => eb.fn.countAll().as('n'))
          .where('kind', '=', kind)
          .where('expires', '>', now)
        return replaced === null ? q : q.where('id', '!=', replaced)
      }
      const byOwner = Number((await live().where('owner', '=', owner).executeTakeFirstOrThrow()).n)
      if (byOwner >= max.owner) return REFUSAL[kind].owner
      if (tokenId !== undefined && Number((await live().where('token_id', '=', tokenId).executeTakeFirstOrThrow()).n) >= max.token) return REFUSAL[kind].token
      const id = randomUUID()
      await trx
        .insertInto('stream_leases')
        .values({ id, kind, owner, token_id: tokenId ?? null, replica: this.replica, expires: now + this.leaseMs })
        .execute()
      return id
    })
  }

  /**
   * Renews the leases of this replica's open streams every third of their time (only those: a lease
   * whose delete failed lapses instead of being renewed for the replica's life), and deletes lapsed
   * ones (a killed replica's).
   */
  private startHeartbeat(): void {
    const data = this.shared
    if (!data || this.heartbeat || this.stopped) return
    this.heartbeat = setInterval(
      () => {
        const now = this.now()
        const held = [...this.leases]
        void (
          held.length === 0
            ? Promise.resolve()
            : data.db
                .updateTable('stream_leases')
                .set({ expires: now + this.leaseMs })
                .where('id', 'in', held)
                .execute()
        )
          .then(() => data.db.deleteFrom('stream_leases').where('expires', '<', now).execute())
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
    const data = this.shared
    if (!data) return
    await Promise.all([...this.releasing])
    await data.db
      .deleteFrom('stream_leases')
      .where('replica', '=', this.replica)
      .execute()
      .catch(() => {})
  }

  /** Streams of `kind` held open here. */
  held(kind: StreamKind): number {
    let n = 0
    for (const [k, v] of this.counts) if (k.startsWith(`${kind}|o|`)) n += v
    return n
  }
}
