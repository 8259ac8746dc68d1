// What the gateway makes of config pulls that fail though the central server answered: the problem
// /healthz reports (counted from its first failure, whatever each answer says), and how long to
// wait before the next pull. A refused gateway token (revoked, or the store re-provisioned) stays
// refused until someone puts the store's current token in the config: pulling it every period
// achieves nothing, and each refusal counts against the server's failed-auth limit for the box's
// address, so those pulls back off.

/** A config pull that reached the server but gave nothing the gateway could take; `status` its HTTP answer, if that was the reason. */
export class ConfigFailure extends Error {
  constructor(
    readonly reason: 'refused' | 'apply',
    message: string,
    readonly status?: number,
    /** How long the server asked to wait before the next pull, ms (Retry-After of a busy answer): no back-off. */
    readonly waitMs?: number,
    /** The least wait before the next pull, ms (Retry-After of a rate-limited answer): the back-off, but never shorter. */
    readonly atLeastMs?: number
  ) {
    super(message)
  }
}

/**
 * A config pull is given up when nothing arrived for this long (ms): a whole config of a big store
 * is long to build and to send, so the timeout is on progress, not on the whole (the server
 * streams a list it is building, config-reply.ts).
 */
export const CONFIG_STALL_MS = 10_000
/** A config pull is given up after this long in all, ms, however it progresses (a server trickling forever). */
export const CONFIG_WHOLE_MS = 5 * 60_000
/** Answers that refuse the gateway's token. */
export const TOKEN_REFUSED = new Set([401, 403])
/** Answers after which the next pull waits longer: the token refused, or too many refusals from this address (429). */
export const BACK_OFF = new Set([...TOKEN_REFUSED, 429])
/** The longest wait between pulls while they keep being refused, ms. */
export const CONFIG_BACKOFF_MAX_MS = 5 * 60_000
/** The 429 of a pull while another with the same token is in progress (server/config-reply.ts): nothing wrong with the token. */
export const CONFIG_BUSY = 'INSTORE_CONFIG_BUSY'
/** The bounds on the wait a busy answer's Retry-After asks for, ms: no spinning on 0, no hour-long silence on a hostile value. */
const BUSY_WAIT_MIN_MS = 100
const BUSY_WAIT_MAX_MS = 60_000

/**
 * The failure of a pull refused with HTTP `status`; `body` its text (read for a 429's error code),
 * `retryAfter` its Retry-After header. A busy answer waits as the server asks (seconds, bounded;
 * the period if unreadable) instead of backing off: the pull in progress ends within seconds.
 */
export function refusal(status: number, body: string, retryAfter: string | null, everyMs: number): ConfigFailure {
  if (status === 429 && errorCode(body) !== CONFIG_BUSY) {
    // Too many failed authentications from this address: the server says when it takes one again.
    const asked = retryAfterMs(retryAfter, CONFIG_BACKOFF_MAX_MS)
    return new ConfigFailure('refused', refusedMessage(status), status, undefined, asked ?? undefined)
  }
  if (status !== 429) return new ConfigFailure('refused', refusedMessage(status), status)
  const waitMs = retryAfterMs(retryAfter, BUSY_WAIT_MAX_MS) ?? Math.min(BUSY_WAIT_MAX_MS, Math.max(BUSY_WAIT_MIN_MS, everyMs))
  return new ConfigFailure(
    'refused',
    `config pull refused as busy (HTTP 429 ${CONFIG_BUSY}): the central server is still answering another pull with this store's token (this gateway's own from before a restart, or another gateway given the same token?); pulling again in ${waitMs} ms`,
    status,
    waitMs
  )
}

/**
 * The wait a Retry-After header asks for, ms, between BUSY_WAIT_MIN_MS (no spinning on 0) and
 * `maxMs` (no hour-long silence on a hostile value); null when absent or not whole seconds (the
 * HTTP-date form is not used by our server).
 */
export function retryAfterMs(header: string | null, maxMs: number): number | null {
  const t = header?.trim() ?? ''
  return /^\d{1,9}$/.test(t) ? Math.min(maxMs, Math.max(BUSY_WAIT_MIN_MS, Number(t) * 1000)) : null
}

function errorCode(body: string): string | undefined {
  try {
    const e = (JSON.parse(body) as { error?: unknown } | null)?.error
    return typeof e === 'string' ? e : undefined
  } catch {
    return undefined
  }
}

export interface ConfigProblem {
  message: string
  /** When the pulls started failing (wall ms), and how many have failed since. */
  since: number
  tries: number
  /** The HTTP answer the message is about, if any. */
  status?: number
}

/** The message of a pull refused with HTTP `status`. */
export function refusedMessage(status: number): string {
  if (TOKEN_REFUSED.has(status))
    return `gateway token refused by the central server (HTTP ${status}): revoked, or the store provisioned again? put the store's current token in the gateway's config`
  if (status === 429) return 'config pulls refused as too many (HTTP 429): the central server limits failed authentications per address'
  return `config pull refused: HTTP ${status}`
}

/**
 * The problem after one more failure: counted from the first failure, whatever the message. A
 * 429 after a refused token is that token tripping the server's failed-auth limit: the token stays
 * the reason named. `changed` says whether the reason named is new (worth a log line).
 */
export function nextProblem(p: ConfigProblem | null, message: string, status: number | undefined, now: number): { problem: ConfigProblem; changed: boolean } {
  if (p === null) return { problem: { message, since: now, tries: 1, ...(status !== undefined ? { status } : {}) }, changed: true }
  const keep = p.message === message || (status === 429 && p.status !== undefined && TOKEN_REFUSED.has(p.status))
  if (keep) return { problem: { ...p, tries: p.tries + 1 }, changed: false }
  const { status: _, ...rest } = p
  return { problem: { ...rest, message, tries: p.tries + 1, ...(status !== undefined ? { status } : {}) }, changed: true }
}

/**
 * The wait before the next pull, ms: the period; after `refusedInRow` refusals in a row (BACK_OFF),
 * the period doubled each time up to CONFIG_BACKOFF_MAX_MS, with jitter (between half and all of
 * it: gateways refused at once do not pull again in step). `random` is uniform in [0, 1).
 */
export function pullWaitMs(everyMs: number, refusedInRow: number, random: () => number): number {
  if (refusedInRow <= 0) return everyMs
  const b = Math.min(CONFIG_BACKOFF_MAX_MS, everyMs * 2 ** Math.min(refusedInRow, 30))
  return Math.max(everyMs, b / 2 + random() * (b / 2))
}
