// Failed MQTT logins slow the guesser, never lock the owner out: a doubling delay per key (a
// username, an address), and logins sharing a key answered one at a time (broker-auth.ts uses both).
/**
 * Failed logins per key (a username, an address): each failure doubles the delay before the
 * next answer from that key, from LOGIN_DELAY_BASE_MS up to LOGIN_DELAY_MAX_MS. The right
 * password is answered after the same delay and then accepted: a guesser slows the owner down
 * but never locks them out. A key forgets its failures after LOGIN_FORGET_MS without one.
 */
export const LOGIN_DELAY_BASE_MS = 100
export const LOGIN_DELAY_MAX_MS = 10_000
export const LOGIN_FORGET_MS = 15 * 60_000
/** Keys remembered at most; beyond that the stalest go first, so a spray of usernames cannot grow memory. */
const LOGIN_KEYS_MAX = 10_000

export class LoginThrottle {
  private readonly failures = new Map<string, { n: number; last: number }>()
  constructor(private readonly now: () => number) {}
  private count(key: string): number {
    const f = this.failures.get(key)
    return f && this.now() - f.last < LOGIN_FORGET_MS ? f.n : 0
  }

  /** The delay (ms) before answering a login from any of these keys. */
  delayMs(keys: string[]): number {
    const n = Math.max(...keys.map(k => this.count(k)))
    return n === 0 ? 0 : Math.min(LOGIN_DELAY_MAX_MS, LOGIN_DELAY_BASE_MS * 2 ** Math.min(n - 1, 20))
  }

  fail(keys: string[]): void {
    for (const k of keys) {
      const n = this.count(k) + 1
      this.failures.delete(k) // re-inserted last: the Map's order is then staleness
      this.failures.set(k, { n, last: this.now() })
    }
    for (const k of this.failures.keys()) {
      if (this.failures.size <= LOGIN_KEYS_MAX) break
      this.failures.delete(k)
    }
  }

  succeed(key: string): void {
    this.failures.delete(key)
  }
}

/** Logins waiting their turn per key at most; beyond that a login is refused unevaluated. */
export const LOGIN_WAITING_MAX = 8

/**
 * Runs logins one at a time per key (a username, an address): a login waits for every earlier
 * login sharing a key, delay included, so parallel guesses are evaluated and answered no faster
 * than sequential ones. A key with LOGIN_WAITING_MAX logins waiting refuses more without
 * evaluating them, so a flood neither grows memory nor tests passwords; the owner's login, once
 * its turn comes, is still evaluated and accepted.
 */
export class LoginQueue {
  private readonly tails = new Map<string, { p: Promise<void>; n: number }>()

  /** Runs `f` after the earlier logins of these keys, or returns null at once if a key is full. */
  async run<T>(keys: string[], f: () => Promise<T>): Promise<{ value: T } | null> {
    if (keys.some(k => (this.tails.get(k)?.n ?? 0) >= LOGIN_WAITING_MAX)) return null
    const before = Promise.all(keys.map(k => this.tails.get(k)?.p))
    let release = (): void => {}
    const mine = new Promise<void>(resolve => {
      release = resolve
    })
    for (const k of keys) {
      const t = this.tails.get(k)
      this.tails.set(k, { p: mine, n: (t?.n ?? 0) + 1 })
    }
    try {
      await before
      return { value: await f() }
    } finally {
      release()
      for (const k of keys) {
        const t = this.tails.get(k)
        if (t === undefined) continue
        if (t.p === mine) this.tails.delete(k)
        else t.n--
      }
    }
  }

  /** Keys with logins in flight (for tests: nothing is kept once they are answered). */
  get size(): number {
    return this.tails.size
  }
}
