// Bounds on the embedded broker's connections. Each connection holds a file descriptor and some
// memory from the moment it is accepted, before any login: without a bound, anyone who reaches the
// port can open idle connections until the process runs out of descriptors, and then sensors can no
// longer connect and /healthz no longer answers. A connection past a bound is closed at once and
// counted; the broker closes one that sends no CONNECT within its connect timeout (broker.ts).

export interface ConnectionLimits {
  /** Connections open at most on all the broker's listeners together; past it a new one is closed. */
  maxConnections: number
  /** Connections open at most from one remote address (one stranger cannot take them all). */
  maxConnectionsPerAddress: number
  /**
   * Connections open at most under one broker login (with logins on): a sensor or a phone needs one,
   * so one stolen or shared credential spread over many addresses cannot fill the broker and keep
   * sensors that reconnect out. A login's connection past it closes that login's oldest.
   */
  maxConnectionsPerLogin: number
}

/** Enough for a store's sensors, readers and in-store apps, and well under the unit's LimitNOFILE (deploy/instore-gateway.service). */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { maxConnections: 1000, maxConnectionsPerAddress: 100, maxConnectionsPerLogin: 10 }

/** A connection that has sent no CONNECT this long after it was accepted is closed, ms (aedes' default is 30 s). */
export const CONNECT_TIMEOUT_MS = 5000

export type RefusalReason = 'total' | 'per_address' | 'per_login'

/** Refusals at one bound count as one spell until this long passes without one, ms: then /healthz clears. */
export const REFUSAL_QUIET_MS = 60_000

/** A spell of refusals at one bound: when it began, when the last came, how many. */
export interface RefusalSpell {
  reason: RefusalReason
  since: number
  at: number
  n: number
}

/** What the cap needs of a connection: to close it. */
interface Closable {
  destroy(): void
}

export class ConnectionCap {
  /** Connections closed at a bound since start (a new one refused, or an idle one making room), by the bound met. */
  readonly refused: Record<RefusalReason, number> = { total: 0, per_address: 0, per_login: 0 }
  /** The latest spell of refusals at each bound (`refusing` says which are still going on). */
  private readonly spells = new Map<RefusalReason, RefusalSpell>()
  /** Connections closed for sending no CONNECT in time since start. */
  connectTimeouts = 0
  /** Open connections in the order they came, and whether each has yet to send CONNECT. */
  private readonly conns = new Map<Closable, { address: string; pending: boolean; login?: string }>()
  private readonly byAddress = new Map<string, number>()
  /** Each login's logged-in connections, oldest first. */
  private readonly byLogin = new Map<string, Closable[]>()

  /** @param now the wall clock, ms (injected in tests) */
  constructor(
    readonly limits: ConnectionLimits,
    private readonly now: () => number = Date.now
  ) {}

  /**
   * The bounds the broker has refused connections at within the last REFUSAL_QUIET_MS: clients
   * (a sensor reconnecting, a phone) may be kept out now. A quiet spell of that length clears one.
   */
  refusing(): RefusalSpell[] {
    const t = this.now()
    return [...this.spells.values()].filter(s => t - s.at < REFUSAL_QUIET_MS).map(s => ({ ...s }))
  }

  private count(reason: RefusalReason): void {
    this.refused[reason]++
    const t = this.now()
    const s = this.spells.get(reason)
    if (s === undefined || t - s.at >= REFUSAL_QUIET_MS) this.spells.set(reason, { reason, since: t, at: t, n: 1 })
    else {
      s.at = t
      s.n++
    }
  }

  /** Connections open now. */
  get open(): number {
    return this.conns.size
  }

  /**
   * Takes a new connection from `address`. At a bound, the oldest connection there that has not sent
   * CONNECT yet (a sensor's does within milliseconds) is closed to make room: idle connections can
   * never lock the clients out. With none idle, the new one is refused: false, the caller closes it.
   */
  take(c: Closable, address: string): boolean {
    if (this.conns.size >= this.limits.maxConnections && !this.evict('total', () => true) && !this.evictBusiestLogin()) return false
    if ((this.byAddress.get(address) ?? 0) >= this.limits.maxConnectionsPerAddress && !this.evict('per_address', a => a === address)) return false
    this.conns.set(c, { address, pending: true })
    this.byAddress.set(address, (this.byAddress.get(address) ?? 0) + 1)
    return true
  }

  /**
   * The connection sent its CONNECT and was let in (under `login` when logins are on): no longer
   * closed to make room, but a login past its bound loses its oldest connection.
   */
  connected(c: Closable, login?: string): void {
    const e = this.conns.get(c)
    if (!e) return
    e.pending = false
    if (login === undefined) return
    e.login = login
    const list = this.byLogin.get(login) ?? []
    list.push(c)
    this.byLogin.set(login, list)
    while (list.length > this.limits.maxConnectionsPerLogin) {
      this.count('per_login')
      const oldest = list[0] as Closable
      this.release(oldest)
      oldest.destroy()
    }
  }

  release(c: Closable): void {
    const e = this.conns.get(c)
    if (!e) return
    this.conns.delete(c)
    if (e.login !== undefined) {
      const list = this.byLogin.get(e.login) ?? []
      const i = list.indexOf(c)
      if (i >= 0) list.splice(i, 1)
      if (list.length === 0) this.byLogin.delete(e.login)
    }
    const n = this.byAddress.get(e.address) ?? 0
    if (n <= 1) this.byAddress.delete(e.address)
    else this.byAddress.set(e.address, n - 1)
  }

  /**
   * At the total bound with nothing idle: closes the oldest connection of the login holding the
   * most, if it holds more than one (a sensor's single connection is never the one to go).
   */
  private evictBusiestLogin(): boolean {
    let busiest: Closable[] | undefined
    for (const list of this.byLogin.values()) if (list.length > 1 && (busiest === undefined || list.length > busiest.length)) busiest = list
    if (busiest === undefined) return false
    const oldest = busiest[0] as Closable
    this.release(oldest)
    oldest.destroy()
    return true
  }

  /** Closes the oldest idle connection whose address `at` matches, counted; false (counted too) when there is none. */
  private evict(reason: RefusalReason, at: (address: string) => boolean): boolean {
    this.count(reason)
    for (const [c, e] of this.conns)
      if (e.pending && at(e.address)) {
        this.release(c)
        c.destroy()
        return true
      }
    return false
  }
}
