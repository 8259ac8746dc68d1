// The gateway store's writes when the disk is full. A transaction SQLite cannot write (SQLITE_FULL,
// an I/O error) is not lost: its writes, as recorded while it ran, wait in memory and are written
// when the disk takes them again, before any later write, in order, in one transaction (all or
// none, so none is stored twice). While some wait, later transactions wait behind them: the
// outbox keeps its order. What waits is bounded; a transaction past the bound is dropped and
// counted (`droppedEvents`).
import type Database from 'better-sqlite3'

/** One write: a prepared statement's name and its arguments. */
export interface WriteOp {
  stmt: string
  args: unknown[]
}

export interface RetryLimits {
  /** Writes waiting at most. */
  maxOps: number
  /** Bytes of arguments waiting at most (roughly: strings by length, the rest 8 bytes). */
  maxBytes: number
  /** After the disk refused, what waits is tried again no sooner than this, wall ms (each try writes it all). */
  retryEveryMs?: number
}

export const DEFAULT_RETRY_LIMITS: RetryLimits = { maxOps: 200_000, maxBytes: 64 * 1024 * 1024, retryEveryMs: 1000 }

/** Whether an error says the disk cannot take the write now (full, or failing to write). */
export function diskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR'))
}

class Spilled extends Error {}

const bytesOf = (ops: WriteOp[]): number => ops.reduce((n, o) => n + o.args.reduce((m: number, a) => m + (typeof a === 'string' ? a.length : 8), 16), 0)

export class WriteRetry {
  private pending: WriteOp[][] = []
  private pendingOps = 0
  private pendingBytes = 0
  /** The writes of the transaction running now; null outside one. */
  private journal: WriteOp[] | null = null
  private spilled = false
  /** Events (outbox rows) dropped past the bound, and writes. */
  droppedEvents = 0
  droppedWrites = 0
  /** Transactions that waited for the disk and were written later. */
  retried = 0
  /** When the disk last refused a write (wall ms), null if never; `lastError`: what it said. */
  lastFullAt: number | null = null
  lastError = ''

  constructor(
    private readonly db: Database.Database,
    private readonly stmts: Record<string, Database.Statement>,
    private readonly limits: RetryLimits = DEFAULT_RETRY_LIMITS,
    /** Called whenever nothing waits after a transaction (the store drops what it kept in memory meanwhile). */
    private readonly onDrained: () => void = () => {}
  ) {}

  /** Writes waiting for the disk. */
  get waiting(): number {
    return this.pendingOps
  }
  get waitingBytes(): number {
    return this.pendingBytes
  }
  /** Events (outbox rows) waiting for the disk. */
  get waitingEvents(): number {
    let n = 0
    for (const ops of this.pending) for (const o of ops) if (o.stmt === 'addEvent') n++
    return n
  }

  /** Whether a transaction runs now: what it writes may yet have to wait, so the store keeps it in memory too. */
  get inTransaction(): boolean {
    return this.journal !== null
  }

  /** Runs a write; returns the rows it changed (0 when it waits for the disk). */
  run(stmt: string, ...args: unknown[]): number {
    if (this.journal === null) return this.transaction(() => this.run(stmt, ...args))
    this.journal.push({ stmt, args })
    if (this.spilled) return 0
    try {
      return this.stmts[stmt].run(...args).changes
    } catch (err) {
      if (!diskFull(err)) throw err
      // SQLite may have rolled the transaction back already: the writes from here on are only recorded.
      this.full(err)
      this.spilled = true
      return 0
    }
  }

  /**
   * Runs fn in one transaction. When the disk refuses it, its writes wait (fn's result is returned
   * as if they were stored); an error of fn's own rolls back and is thrown, as before.
   */
  transaction<T>(fn: () => T): T {
    if (this.journal !== null) return fn()
    this.flush()
    this.journal = []
    // Behind writes that wait, never before them.
    this.spilled = this.pending.length > 0
    let out: { r: T } | null = null
    try {
      if (this.spilled) out = { r: fn() }
      else {
        this.db.transaction(() => {
          out = { r: fn() }
          if (this.spilled) throw new Spilled()
        })()
      }
    } catch (err) {
      if (out === null || !(err instanceof Spilled || diskFull(err))) {
        this.journal = null
        throw err
      }
      if (!(err instanceof Spilled)) this.full(err)
      this.spilled = true
    }
    const ops = this.journal
    this.journal = null
    if (this.spilled && ops.length > 0) this.enqueue(ops)
    else if (this.pending.length === 0) this.onDrained()
    return (out as unknown as { r: T }).r
  }

  /**
   * Tries what waits every `retryEveryMs` from a timer too (on the event clock no tick may come once
   * the traffic stops, and the writes would wait for the next reading or the stop); `drained` once
   * they are stored.
   */
  retryOnTimer(drained: () => void): NodeJS.Timeout {
    const t = setInterval(() => {
      if (this.pending.length > 0 && this.flush()) drained()
    }, this.limits.retryEveryMs ?? 1000)
    t.unref()
    return t
  }

  /** Writes what waits, if the disk takes it now (`force`: even if it refused a moment ago); true when nothing waits any more. */
  flush(force = false): boolean {
    if (this.pending.length === 0) return true
    if (!force && this.lastFullAt !== null && Date.now() - this.lastFullAt < (this.limits.retryEveryMs ?? 0)) return false
    try {
      this.db.transaction(() => {
        for (const ops of this.pending) for (const o of ops) this.stmts[o.stmt].run(...o.args)
      })()
    } catch (err) {
      if (diskFull(err)) {
        this.full(err)
        return false
      }
      // A write that can never succeed must not hold every later one: dropped, counted.
      for (const ops of this.pending) this.drop(ops)
    }
    this.retried += this.pending.length
    this.pending = []
    this.pendingOps = 0
    this.pendingBytes = 0
    this.onDrained()
    return true
  }

  private full(err: unknown): void {
    this.lastFullAt = Date.now()
    this.lastError = (err as Error).message
  }

  private enqueue(ops: WriteOp[]): void {
    const bytes = bytesOf(ops)
    if (this.pendingOps + ops.length > this.limits.maxOps || this.pendingBytes + bytes > this.limits.maxBytes) {
      this.drop(ops)
      return
    }
    this.pending.push(ops)
    this.pendingOps += ops.length
    this.pendingBytes += bytes
  }

  private drop(ops: WriteOp[]): void {
    this.droppedWrites += ops.length
    for (const o of ops) if (o.stmt === 'addEvent') this.droppedEvents++
  }
}
