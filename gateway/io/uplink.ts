// The gateway's link to the central server: drains the outbox to POST /v1/stores/{id}/events in
// order and in batches (the server is idempotent on event id, so a retry after a lost answer is
// harmless), backing off exponentially with jitter while the server is unreachable, setting aside
// as dead letters the events it refuses one by one; and pulls the
// store's config (campaigns, consent, erasures) with an ETag, applying it without a restart.
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { Logger } from '../../shared/log.ts'
import { GatewayConfigSchema, type GatewayConfigT } from '../../shared/gateway-config.ts'
import type { GatewayStore, OutboxRow } from './store.ts'
import type { UplinkOptions, UplinkTimers } from './uplink-options.ts'
import { MAX_CONFIG_BYTES, MAX_LIVE_REPLY_BYTES, MAX_REPLY_BYTES, readCapped, stallSignal } from './capped-body.ts'
import { eventsTaken, isRedirect, parseJson, redirectMessage, refusals, RETRY_4XX, ServerError, type Refusal } from './events-reply.ts'
import {
  BACK_OFF,
  CONFIG_BACKOFF_MAX_MS,
  CONFIG_STALL_MS,
  CONFIG_WHOLE_MS,
  ConfigFailure,
  nextProblem,
  pullWaitMs,
  refusal,
  retryAfterMs,
  TOKEN_REFUSED,
  type ConfigProblem
} from './config-trouble.ts'

const checkConfig = TypeCompiler.Compile(GatewayConfigSchema)

export { MAX_CONFIG_BYTES } from './capped-body.ts'

export type { UplinkOptions, UplinkTimers } from './uplink-options.ts'

export class Uplink {
  private stopped = false
  private wake: (() => void) | null = null
  private backoff: number
  private loops: Array<Promise<void>> = []
  private readonly sleepers = new Set<() => void>()
  lastError: string | null = null
  /**
   * Answers of the central server that were redirects (3xx), by call. None is followed: the token
   * must not go to another origin, and an event is delivered only when the configured server says so.
   */
  readonly redirects = { events: 0, config: 0, live: 0 }
  /** Config pulls that failed, by reason: unreachable (network, 5xx), refused (invalid, oversized, 3xx/4xx), apply (it threw). */
  readonly configFailures = { unreachable: 0, refused: 0, apply: 0 }
  /** The central config the gateway could not take, while it keeps failing (cleared by one that applies). */
  configProblem: ConfigProblem | null = null
  /** Pulls refused in a row with an answer that asks for a longer wait (config-trouble.ts BACK_OFF); 0 after one that is not. */
  private pullsRefused = 0
  /** Since when config pulls have failed in a row (network, 5xx): with no events to send, the drain never shows the server down. */
  private pullsFailing: { since: number; message: string } | null = null
  /** Answers from the central server longer than the gateway reads (cut short, counted). */
  oversizedReplies = 0
  /** 200 answers whose accepted + duplicates is below the number of events posted (no delivery: kept, sent again). */
  shortReplies = 0
  /** 200 answers whose accepted + duplicates is above the number posted (taken as delivery: every event is accounted for). */
  overReplies = 0
  /** The least wait before the next batch, ms: what a 429's Retry-After asked (the backoff if longer). */
  private askedWaitMs = 0
  /** The last error is central's own reply taking fewer events than posted (it answers: not unreachable). */
  lastErrorShort = false
  private readonly random: () => number
  private readonly timers: UplinkTimers
  /** Set by the gateway: what the live dashboard shows (best effort, never queued). */
  liveSnapshot: (() => unknown) | null = null

  constructor(
    private readonly o: UplinkOptions,
    private readonly store: GatewayStore,
    private readonly log: Logger,
    private readonly onConfig: (c: GatewayConfigT) => void | Promise<void>
  ) {
    this.backoff = o.minBackoffMs
    this.random = o.random ?? Math.random
    this.timers = o.timers ?? { set: (fn, ms) => setTimeout(fn, ms), clear: t => clearTimeout(t as NodeJS.Timeout) }
  }

  start(): void {
    this.loops = [this.drainLoop(), this.configLoop(), this.liveLoop()]
  }

  private async liveLoop(): Promise<void> {
    while (!this.stopped) {
      await this.sleep(1000)
      try {
        // Inside the try: a failing snapshot costs one dashboard frame, never the gateway.
        // A refused token is refused here too: each post would only count against the server's failed-auth limit.
        if (this.stopped || (this.configProblem?.status !== undefined && TOKEN_REFUSED.has(this.configProblem.status))) continue
        const snap = this.liveSnapshot?.()
        if (!snap) continue
        const res = await fetch(this.url('live'), {
          method: 'POST',
          redirect: 'manual',
          headers: this.headers(),
          body: JSON.stringify(snap),
          signal: AbortSignal.timeout(5000)
        })
        if (isRedirect(res.status)) this.redirects.live++
        if ((await readCapped(res, MAX_LIVE_REPLY_BYTES)).over) this.oversizedReplies++
      } catch {
        /* the dashboard misses a frame; nothing else depends on it */
      }
    }
  }

  /** New events are waiting: drain now instead of at the next poll. */
  kick(): void {
    this.wake?.()
  }

  async stop(flushMs = 3000): Promise<void> {
    // A last attempt to hand over what is waiting, bounded so a dead server cannot hold the stop.
    const until = Date.now() + flushMs
    while (!this.stopped && this.store.backlog() > 0 && Date.now() < until && this.lastError === null) {
      if (!(await this.sendBatch())) break
    }
    this.stopped = true
    for (const s of [...this.sleepers]) s()
    await Promise.all(this.loops)
  }

  get connected(): boolean {
    return this.lastError === null
  }

  /** Unreachable for three pull periods (30 s by default): one failed pull is a restart or a blip, three an outage. */
  get pullsUnreachable(): { since: number; message: string } | null {
    const f = this.pullsFailing
    return f !== null && Date.now() - f.since >= 3 * this.o.configEveryMs ? f : null
  }

  private headers(): Record<string, string> {
    return { authorization: `Bearer ${this.o.token}`, 'content-type': 'application/json' }
  }

  /** This store's resource on the central server. */
  private url(what: 'events' | 'config' | 'live', query = ''): string {
    return `${this.o.central}/v1/stores/${encodeURIComponent(this.o.storeId)}/${what}${query}`
  }

  /**
   * Sleeps; kick() wakes the drain loop early, stop() wakes everyone. Once stopped it does not
   * sleep: a loop whose request was in flight when stop() woke the sleepers would otherwise hold
   * the stop for a whole pull period or backoff.
   */
  private async sleep(ms: number, kickable = false): Promise<void> {
    if (this.stopped) return
    await new Promise<void>(resolve => {
      const done = () => {
        this.timers.clear(t)
        this.sleepers.delete(done)
        if (this.wake === done) this.wake = null
        resolve()
      }
      const t = this.timers.set(done, ms)
      this.sleepers.add(done)
      if (kickable) this.wake = done
    })
  }

  /** Sends one batch; true when every event in it was handled (accepted, or set aside as a dead letter). */
  private async sendBatch(): Promise<boolean> {
    const rows = this.store.unsent(this.o.batch)
    if (rows.length === 0) return true
    return await this.deliver(rows)
  }

  /**
   * Delivers rows in order. A batch the server refuses for its content (a 4xx other than auth,
   * not-found, timeout or rate limit, in the server's own error format) is split in halves until each refused event stands alone;
   * that one becomes a dead letter and the rest flows. Anything else stops the drain for a backoff.
   */
  private async deliver(rows: OutboxRow[]): Promise<boolean> {
    const r = await this.post(rows)
    if (r.kind === 'error') {
      if (this.lastError === null)
        this.log.warn(r.short ? 'central not taking every event; they wait in the outbox' : 'central unreachable; events wait in the outbox', { err: r.message })
      this.lastError = r.message
      this.lastErrorShort = r.short === true
      this.askedWaitMs = r.waitMs ?? 0
      return false
    }
    if (this.lastError !== null) this.log.info('central reachable again', { backlog: this.store.backlog() })
    this.lastError = null
    this.backoff = this.o.minBackoffMs
    if (r.kind === 'ok') {
      this.store.markSent(rows[rows.length - 1].seq)
      return true
    }
    if (r.kind === 'partial') {
      for (const x of r.refused) {
        this.store.deadLetter(rows[x.index], r.status, `${x.error}: ${x.message}`, Date.now())
        this.log.warn('central refused an event: set aside as a dead letter', { id: rows[x.index].id, type: rows[x.index].type, status: r.status, reason: x.error })
      }
      this.store.markSent(rows[rows.length - 1].seq)
      return true
    }
    if (rows.length === 1) {
      this.store.deadLetter(rows[0], r.status, r.text, Date.now())
      this.log.warn('central refused an event: set aside as a dead letter', { id: rows[0].id, type: rows[0].type, status: r.status, reason: r.text.slice(0, 200) })
      return true
    }
    const mid = Math.ceil(rows.length / 2)
    return (await this.deliver(rows.slice(0, mid))) && (await this.deliver(rows.slice(mid)))
  }

  private async post(
    rows: OutboxRow[]
  ): Promise<
    | { kind: 'ok' }
    | { kind: 'partial'; status: number; refused: Refusal[] }
    | { kind: 'refused'; status: number; text: string }
    | { kind: 'error'; message: string; short?: true; waitMs?: number }
  > {
    try {
      const res = await fetch(this.url('events'), {
        method: 'POST',
        redirect: 'manual',
        headers: this.headers(),
        body: `{"events":[${rows.map(r => r.body).join(',')}]}`,
        signal: AbortSignal.timeout(10_000)
      })
      const reply = await readCapped(res, MAX_REPLY_BYTES)
      if (reply.over) this.oversizedReplies++
      const text = reply.bytes.toString()
      if (isRedirect(res.status)) {
        this.redirects.events++
        return { kind: 'error', message: redirectMessage(res) }
      }
      if (res.ok) {
        // A 200 whose body is not the server's reply (a captive portal, a proxy's page) is no delivery.
        const taken = eventsTaken(text)
        if (taken === null) return { kind: 'error', message: `HTTP ${res.status} without the server's reply: ${text.slice(0, 200)}` }
        if (taken >= rows.length) {
          // Every event is accounted for; a count past the batch is central's bookkeeping to look
          // at, not a reason to send again forever (the batch would never read as delivered).
          if (taken > rows.length && this.overReplies++ === 0)
            this.log.warn('central said it took more events than were posted: taken as delivered', { taken, posted: rows.length })
          return { kind: 'ok' }
        }
        // Central says it stored fewer than were posted: no delivery; kept and sent again.
        this.shortReplies++
        return { kind: 'error', short: true, message: `central took ${taken} of ${rows.length} events (HTTP ${res.status}, accepted + duplicates): kept to send again` }
      }
      if (res.status >= 400 && res.status < 500 && !RETRY_4XX.has(res.status) && ServerError.Check(parseJson(text))) {
        // The server names each event it refused by its place in the batch and stored the others.
        const listed = refusals(text, rows.length)
        return listed !== null ? { kind: 'partial', status: res.status, refused: listed } : { kind: 'refused', status: res.status, text: text.slice(0, 500) }
      }
      // A 429 (too many failed authentications) says when the server takes one again: not sooner.
      const waitMs = res.status === 429 ? retryAfterMs(res.headers.get('retry-after'), CONFIG_BACKOFF_MAX_MS) : null
      return { kind: 'error', message: `HTTP ${res.status}: ${text.slice(0, 200)}`, ...(waitMs !== null ? { waitMs } : {}) }
    } catch (err) {
      return { kind: 'error', message: (err as Error).message }
    }
  }

  private async drainLoop(): Promise<void> {
    while (!this.stopped) {
      if (this.store.backlog() === 0) {
        await this.sleep(1000, true)
        continue
      }
      if (await this.sendBatch()) continue
      // Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff and
      // Jitter"). Not kickable: new events must not shorten it, or a busy store hammers a server
      // that is down about once a tick.
      await this.sleep(Math.max(this.askedWaitMs, this.random() * this.backoff))
      this.backoff = Math.min(this.o.maxBackoffMs, this.backoff * 2)
    }
  }

  /**
   * A pull the network or a 5xx stopped is counted and logged at debug (the events' drain reports
   * the server unreachable). A config refused or that could not be applied leaves consent,
   * erasures and campaigns unapplied: a warning when it starts or changes, and /healthz names it.
   */
  private configFailed(err: unknown): void {
    const reason = err instanceof ConfigFailure ? err.reason : 'unreachable'
    const message = (err as Error).message
    this.configFailures[reason]++
    if (reason === 'unreachable') {
      this.log.debug('config pull failed', { err: message })
      if (this.pullsFailing === null) this.log.warn('central unreachable for config pulls; tried again each period', { err: message.slice(0, 300) })
      this.pullsFailing = { since: this.pullsFailing?.since ?? Date.now(), message }
      return
    }
    this.pullsReachable()
    const status = err instanceof ConfigFailure ? err.status : undefined
    const asked = err instanceof ConfigFailure && err.waitMs !== undefined
    this.pullsRefused = status !== undefined && BACK_OFF.has(status) && !asked ? this.pullsRefused + 1 : 0
    const next = nextProblem(this.configProblem, message, status, Date.now())
    if (next.changed)
      this.log.warn('central config not applied; tried again each period', { reason, err: message.slice(0, 300), failingSince: new Date(next.problem.since).toISOString() })
    this.configProblem = next.problem
  }

  private pullsReachable(): void {
    if (this.pullsFailing !== null) this.log.info('central reachable again for config pulls')
    this.pullsFailing = null
  }
  /**
   * Pulls the config every `configEveryMs`: the first time whole, then only what changed since the
   * version last applied (`?since=`), so a short period stays cheap and consent withdrawn or an
   * erasure reaches the gateway within one period. The ETag still spares the body when nothing did.
   */
  private async configLoop(): Promise<void> {
    let etag: string | null = null
    let version: string | null = this.o.configVersion ?? null
    while (!this.stopped) {
      let askedMs: number | undefined
      let atLeastMs = 0
      const timeout = stallSignal(this.o.configStallMs ?? CONFIG_STALL_MS, CONFIG_WHOLE_MS)
      try {
        const query = version !== null ? `?since=${encodeURIComponent(version)}` : ''
        const res: Response = await fetch(this.url('config', query), {
          redirect: 'manual',
          headers: { ...this.headers(), ...(etag ? { 'if-none-match': etag } : {}) },
          signal: timeout.signal
        })
        timeout.progress()
        if (res.status === 200) {
          const body = await readCapped(res, MAX_CONFIG_BYTES, timeout.progress)
          if (body.over) {
            this.oversizedReplies++
            throw new ConfigFailure('refused', `config refused: over ${MAX_CONFIG_BYTES} bytes`)
          }
          const c: unknown = parseJson(body.bytes.toString())
          if (!checkConfig.Check(c)) {
            const e = checkConfig.Errors(c).First()
            throw new ConfigFailure('refused', `config refused: ${e ? `${e.path || '/'}: ${e.message}` : 'invalid'}`)
          }
          try {
            await this.onConfig(c)
          } catch (err) {
            throw new ConfigFailure('apply', `config ${c.version} could not be applied: ${(err as Error).message}`)
          }
          this.pullsReachable()
          this.pullsRefused = 0
          if (this.configProblem !== null) this.log.info('central config applied again', { version: c.version })
          this.configProblem = null
          etag = res.headers.get('etag')
          version = c.version
          if (c.full || c.devices.length + c.removed.length + c.erasures.length > 0 || c.campaigns !== undefined) {
            this.log.info('config applied', {
              full: c.full,
              version: c.version,
              devices: c.devices.length,
              removed: c.removed.length,
              erasures: c.erasures.length,
              ...(c.campaigns ? { campaigns: c.campaigns.length } : {})
            })
          }
        } else if (res.status === 400 && version !== null) {
          // The server no longer knows our version (e.g. its database was restored): start over.
          this.pullsReachable()
          version = null
          etag = null
        } else if (isRedirect(res.status)) {
          this.redirects.config++
          throw new ConfigFailure('refused', redirectMessage(res))
        } else if (res.status >= 500) {
          throw new Error(`config pull answered HTTP ${res.status}`)
        } else if (res.status !== 304) {
          const body = res.status === 429 ? (await readCapped(res, 4096)).bytes.toString() : ''
          throw refusal(res.status, body, res.headers.get('retry-after'), this.o.configEveryMs)
        } else {
          this.pullsReachable()
          this.pullsRefused = 0
          // A 304 is the token taken again: a refusal is over (the config in force is current), live posts resume.
          if (this.configProblem?.status !== undefined) this.configProblem = null
        }
      } catch (err) {
        this.configFailed(err)
        if (err instanceof ConfigFailure) {
          askedMs = err.waitMs
          atLeastMs = err.atLeastMs ?? 0
        }
      } finally {
        timeout.done()
      }
      await this.sleep(askedMs ?? Math.max(atLeastMs, pullWaitMs(this.o.configEveryMs, this.pullsRefused, this.random)))
    }
  }
}
