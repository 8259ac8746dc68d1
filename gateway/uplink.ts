// The gateway's link to the central server: drains the outbox to POST /v1/stores/{id}/events in
// order and in batches (the server is idempotent on event id, so a retry after a lost answer is
// harmless), backing off exponentially with jitter while the server is unreachable; and pulls the
// store's config (campaigns, consent, erasures) with an ETag, applying it without a restart.
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { Logger } from '../shared/log.ts'
import { GatewayConfigSchema, type GatewayConfigT } from '../shared/gateway-config.ts'
import type { GatewayStore } from './store.ts'

const checkConfig = TypeCompiler.Compile(GatewayConfigSchema)

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
}

export class Uplink {
  private stopped = false
  private wake: (() => void) | null = null
  private backoff: number
  private loops: Array<Promise<void>> = []
  private readonly sleepers = new Set<() => void>()
  lastError: string | null = null
  /** Set by the gateway: what the live dashboard shows (best effort, never queued). */
  liveSnapshot: (() => unknown) | null = null

  constructor (private readonly o: UplinkOptions, private readonly store: GatewayStore, private readonly log: Logger,
    private readonly onConfig: (c: GatewayConfigT) => void) {
    this.backoff = o.minBackoffMs
  }

  start (): void {
    this.loops = [this.drainLoop(), this.configLoop(), this.liveLoop()]
  }

  private async liveLoop (): Promise<void> {
    while (!this.stopped) {
      await this.sleep(1000)
      try {
        // Inside the try: a failing snapshot costs one dashboard frame, never the gateway.
        const snap = this.liveSnapshot?.()
        if (!snap || this.stopped) continue
        const res = await fetch(this.url('live'), {
          method: 'POST', headers: this.headers(), body: JSON.stringify(snap), signal: AbortSignal.timeout(5000)
        })
        await res.arrayBuffer()
      } catch { /* the dashboard misses a frame; nothing else depends on it */ }
    }
  }

  /** New events are waiting: drain now instead of at the next poll. */
  kick (): void { this.wake?.() }

  async stop (flushMs = 3000): Promise<void> {
    // A last attempt to hand over what is waiting, bounded so a dead server cannot hold the stop.
    const until = Date.now() + flushMs
    while (!this.stopped && this.store.backlog() > 0 && Date.now() < until && this.lastError === null) {
      if (!(await this.sendBatch())) break
    }
    this.stopped = true
    for (const s of [...this.sleepers]) s()
    await Promise.all(this.loops)
  }

  get connected (): boolean { return this.lastError === null }

  private headers (): Record<string, string> { return { authorization: `Bearer ${this.o.token}`, 'content-type': 'application/json' } }

  /** This store's resource on the central server. */
  private url (what: 'events' | 'config' | 'live', query = ''): string { return `${this.o.central}/v1/stores/${encodeURIComponent(this.o.storeId)}/${what}${query}` }

  /** Sleeps; kick() wakes the drain loop early, stop() wakes everyone. */
  private async sleep (ms: number, kickable = false): Promise<void> {
    await new Promise<void>(resolve => {
      const done = () => { clearTimeout(t); this.sleepers.delete(done); if (this.wake === done) this.wake = null; resolve() }
      const t = setTimeout(done, ms)
      this.sleepers.add(done)
      if (kickable) this.wake = done
    })
  }

  /** Sends one batch; true when the server accepted it (or there was nothing to send). */
  private async sendBatch (): Promise<boolean> {
    const rows = this.store.unsent(this.o.batch)
    if (rows.length === 0) return true
    try {
      const res = await fetch(this.url('events'), {
        method: 'POST', headers: this.headers(), body: `{"events":[${rows.map(r => r.body).join(',')}]}`, signal: AbortSignal.timeout(10_000)
      })
      // A reply listing `refused` events: the server stored the rest and will never take those: re-sending cannot help.
      const reply = await res.json().catch(() => null) as { refused?: unknown } | null
      const refused = Array.isArray(reply?.refused) ? reply.refused as unknown[] : null
      if (!res.ok && refused === null) throw new Error(`HTTP ${res.status}: ${JSON.stringify(reply).slice(0, 200)}`)
      if (!res.ok) this.log.warn('central refused events', { status: res.status, refused: refused?.length ?? 0 })
      this.store.markSent(rows[rows.length - 1].seq)
      if (this.lastError !== null) this.log.info('central reachable again', { backlog: this.store.backlog() })
      this.lastError = null
      this.backoff = this.o.minBackoffMs
      return true
    } catch (err) {
      if (this.lastError === null) this.log.warn('central unreachable; events wait in the outbox', { err: (err as Error).message })
      this.lastError = (err as Error).message
      return false
    }
  }

  private async drainLoop (): Promise<void> {
    while (!this.stopped) {
      if (this.store.backlog() === 0) { await this.sleep(1000, true); continue }
      if (await this.sendBatch()) continue
      // Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff and Jitter").
      await this.sleep(Math.random() * this.backoff, true)
      this.backoff = Math.min(this.o.maxBackoffMs, this.backoff * 2)
    }
  }

  /**
   * Pulls the config every `configEveryMs`: the first time whole, then only what changed since the
   * version last applied (`?since=`), so a short period stays cheap and consent withdrawn or an
   * erasure reaches the gateway within one period. The ETag still spares the body when nothing did.
   */
  private async configLoop (): Promise<void> {
    let etag: string | null = null
    let version: string | null = null
    while (!this.stopped) {
      try {
        const query = version !== null ? `?since=${encodeURIComponent(version)}` : ''
        const res: Response = await fetch(this.url('config', query), {
          headers: { ...this.headers(), ...(etag ? { 'if-none-match': etag } : {}) }, signal: AbortSignal.timeout(10_000)
        })
        if (res.status === 200) {
          const c: unknown = await res.json()
          if (!checkConfig.Check(c)) {
            const e = checkConfig.Errors(c).First()
            throw new Error(`config refused: ${e ? `${e.path || '/'}: ${e.message}` : 'invalid'}`)
          }
          this.onConfig(c)
          etag = res.headers.get('etag')
          version = c.version
          if (c.full || c.devices.length + c.removed.length + c.erasures.length > 0 || c.campaigns !== undefined) {
            this.log.info('config applied', { full: c.full, version: c.version, devices: c.devices.length, removed: c.removed.length, erasures: c.erasures.length, ...(c.campaigns ? { campaigns: c.campaigns.length } : {}) })
          }
        } else if (res.status === 400 && version !== null) {
          // The server no longer knows our version (e.g. its database was restored): start over.
          version = null; etag = null
        } else if (res.status !== 304) {
          this.log.warn('config pull refused', { status: res.status })
        }
      } catch (err) {
        this.log.debug('config pull failed', { err: (err as Error).message })
      }
      await this.sleep(this.o.configEveryMs)
    }
  }
}
