// At most one event batch per store in flight on this replica. A store's batches are serial in
// the database anyway (its advisory lock, gateway.ts): without this gate each would take a pool
// connection and hold it while waiting for that lock, so one store's flood of concurrent batches
// would take every connection of the replica and stall other stores, registrations, consent
// changes and erasures. The next batch of a store waits here, in memory and holding nothing, for
// a bounded time; past it, or with too many already waiting, it is answered 503 and sent again later.

/** Gives back a store's turn (idempotent). */
export type Release = () => void

export class StoreGate {
  /** A store present: a batch of it is in flight; its list: the batches waiting, first come first. */
  private readonly stores = new Map<string, Array<(turn: boolean) => void>>()

  constructor(
    /** The longest a batch waits for its store's turn, ms. */
    readonly waitMs: number,
    /** The most batches of one store waiting at once; one more is refused at once. */
    readonly maxWaiting: number
  ) {}

  /** The store's turn (call the release once done), or null when it did not come within waitMs or too many wait already. */
  enter(store: string): Promise<Release | null> {
    const waiting = this.stores.get(store)
    if (waiting === undefined) {
      this.stores.set(store, [])
      return Promise.resolve(this.release(store))
    }
    if (waiting.length >= this.maxWaiting) return Promise.resolve(null)
    return new Promise(resolve => {
      const waiter = (turn: boolean) => {
        clearTimeout(timer)
        resolve(turn ? this.release(store) : null)
      }
      const timer = setTimeout(() => {
        const i = waiting.indexOf(waiter)
        if (i >= 0) waiting.splice(i, 1)
        resolve(null)
      }, this.waitMs)
      waiting.push(waiter)
    })
  }

  /** Whether a batch of the store would be refused at once (as many wait as may). */
  full(store: string): boolean {
    return (this.stores.get(store)?.length ?? -1) >= this.maxWaiting
  }

  /** How many batches wait for their store's turn, over all stores. */
  get waiting(): number {
    let n = 0
    for (const w of this.stores.values()) n += w.length
    return n
  }

  private release(store: string): Release {
    let done = false
    return () => {
      if (done) return
      done = true
      const next = this.stores.get(store)?.shift()
      if (next) next(true)
      else this.stores.delete(store)
    }
  }
}
