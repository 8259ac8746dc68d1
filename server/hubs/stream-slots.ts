// How many SSE streams each device, token and store holds open. A phone needs one trigger stream
// (two while it reconnects), an operator a dashboard or two; every stream costs a connection,
// memory and a share of each wake-up, so a script holding thousands open is refused, not served.
// Counted twice: here in memory (a flood at one replica costs it no query), and on PostgreSQL in
// the database as leases (stream-leases.ts), so the caps hold across replicas.
import type { DataStore } from '../db/db.ts'
import { bump, DEFAULT_LEASE_MS, isRefusal, REFUSAL, type StreamKind, type StreamLimits, type StreamRefusal, type StreamSlot } from './stream-limits.ts'
import { StreamLeases } from './stream-leases.ts'

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
  /** Its lease was taken by its device's newer stream on another replica before `end` was known: ended as soon as it is. */
  taken: boolean
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
  /** Every replica's streams, on PostgreSQL; null on SQLite (one process holds every stream, its counts here are exact). */
  private readonly leases: StreamLeases | null

  constructor(
    private readonly limits: Readonly<StreamLimits>,
    data: DataStore | null = null,
    leaseMs = DEFAULT_LEASE_MS
  ) {
    // No clock of this replica's: lease expiry is on the database's (stream-leases.ts).
    this.leases = data?.engine === 'postgres' ? new StreamLeases(data, leaseMs) : null
  }

  private limitsOf(kind: StreamKind): { owner: number; token: number } {
    return kind === 'device'
      ? { owner: this.limits.streamsPerDevice, token: this.limits.streamsPerToken }
      : { owner: this.limits.liveStreamsPerStore, token: this.limits.liveStreamsPerToken }
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
    const leases = this.leases
    if (!leases) {
      commit()
      return local
    }
    let lease: string | StreamRefusal
    try {
      lease = await leases.take(kind, owner, tokenId, this.limitsOf(kind), own?.lease ?? null)
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
    const hold = reserved.hold
    hold.lease = id
    // Taken by the device's newer stream on any replica: ended here, as a replacement here would
    // end it. Found gone at a renewal (it lapsed): ended too, its place counted by no replica now
    // (a dashboard's live stream as well: its route ends it through onReplaced).
    leases.hold(id, taken => {
      if (taken) this.replaced++
      if (hold.end) hold.end()
      else hold.taken = true
    })
    let held = true
    return {
      onEvict: local.onEvict,
      onReplaced: local.onReplaced,
      release: () => {
        if (!held) return
        held = false
        local.release()
        leases.release(id)
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
      taken: false,
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
        if (!held) return
        hold.end = end
        if (hold.taken) end()
      }
    }
    return { slot, hold, replace }
  }

  /** Stops renewing and gives back this replica's leases (a clean stop; the streams end with the server). */
  async stop(): Promise<void> {
    await this.leases?.stop()
  }

  /** Streams of `kind` held open here. */
  held(kind: StreamKind): number {
    let n = 0
    for (const [k, v] of this.counts) if (k.startsWith(`${kind}|o|`)) n += v
    return n
  }
}
