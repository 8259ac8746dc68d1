// The options of the gateway's link to the central server (uplink.ts), apart so that file stays
// one read.

/** Sets and clears one wait's timer (the global setTimeout/clearTimeout by default). */
export interface UplinkTimers {
  set(fn: () => void, ms: number): unknown
  clear(handle: unknown): void
}

export interface UplinkOptions {
  central: string
  token: string
  storeId: string
  /** Most events per POST. */
  batch: number
  /** Backoff bounds, ms. */
  minBackoffMs: number
  maxBackoffMs: number
  /** How often the config is pulled, ms. */
  configEveryMs: number
  /** Uniform in [0, 1) for the backoff's jitter (injected by tests). */
  random?: () => number
  /** A config pull with nothing arriving for this long is given up, ms; default CONFIG_STALL_MS. */
  configStallMs?: number
  /** The timers of the uplink's waits (backoffs, pull periods, a Retry-After); default the global ones. Injected by tests to see the waits it decides. */
  timers?: UplinkTimers
  /** The config version already held (kept from an earlier run): the first pull asks only what changed since. */
  configVersion?: string
}
