// The instore app SDK: register with consent, receive "in-store now" triggers (Server-Sent Events
// over fetch, so it runs in browsers and in Node 18+ alike, with automatic reconnect and resume
// from the last event id), acknowledge what the shopper did, withdraw consent, erase.

export interface Consent { presence: boolean, marketing: boolean }

export interface Trigger {
  triggerId: string
  storeId: string
  campaignId: string
  ts: number
  /** After this time (ms) the message is no longer worth showing. */
  expires: number
  content?: { title: string, body?: string, url?: string, ttlMin?: number }
  reason?: string
  shop?: string
  sector?: string
}

export type AckStatus = 'delivered' | 'opened' | 'dismissed' | 'converted'

export interface ClientOptions {
  /** Central server, e.g. https://instore.example.com */
  baseUrl: string
  /** Credentials from an earlier register() (persist them in the app). */
  deviceId?: string
  token?: string
  /** Injected fetch (tests, custom agents); default globalThis.fetch. */
  fetch?: typeof fetch
}

export interface Subscription {
  /** Id of the last trigger received: persist it to resume after an app restart. */
  readonly lastEventId: string | null
  close (): void
}

export class InstoreError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) { super(message) }
}

export class InstoreClient {
  deviceId: string | null
  token: string | null
  private readonly f: typeof fetch

  constructor (private readonly o: ClientOptions) {
    this.deviceId = o.deviceId ?? null
    this.token = o.token ?? null
    this.f = o.fetch ?? globalThis.fetch.bind(globalThis)
  }

  private async call<T> (method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.f(this.o.baseUrl.replace(/\/$/, '') + path, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
    if (!res.ok) {
      const e = await res.json().catch(() => ({})) as { error?: string, message?: string }
      throw new InstoreError(res.status, e.error ?? 'HTTP_' + res.status, e.message ?? res.statusText)
    }
    return (res.status === 204 ? undefined : await res.json()) as T
  }

  private need (): string {
    if (!this.deviceId || !this.token) throw new InstoreError(0, 'NOT_REGISTERED', 'register() first')
    return this.deviceId
  }

  /** Registers this install's BLE id (e.g. `app:3f9c0e21`) with the shopper's consent. */
  async register (bleId: string, consent: Consent): Promise<{ deviceId: string, token: string }> {
    const r = await this.call<{ deviceId: string, token: string }>('POST', '/v1/devices', { bleId, consent })
    this.deviceId = r.deviceId; this.token = r.token
    return r
  }

  async setConsent (consent: Consent): Promise<void> { await this.call('PUT', `/v1/devices/${this.need()}/consent`, consent) }

  /** Withdraws marketing consent: no more triggers (presence analytics as the shopper chose). */
  async withdrawConsent (): Promise<void> { await this.setConsent({ presence: false, marketing: false }) }

  /** Erases the device and its history everywhere (server now, gateways on their next config pull). */
  async erase (): Promise<void> {
    await this.call('DELETE', `/v1/devices/${this.need()}`)
    this.deviceId = null; this.token = null
  }

  async ack (triggerId: string, status: AckStatus): Promise<void> { await this.call('POST', `/v1/triggers/${encodeURIComponent(triggerId)}/ack`, { status }) }

  /**
   * Receives triggers until close(). Reconnects with backoff and resumes after the last event
   * received, so a trigger is delivered once even across drop-outs. Pass `lastEventId` saved from
   * an earlier session to resume across app restarts.
   *
   * A trigger counts as received only once `onTrigger` has returned (or its promise resolved):
   * `lastEventId` moves past it then, and not before. A handler that throws or rejects gets the
   * same trigger again after a growing delay (`handlerRetryMs`, doubled each time), at most
   * `handlerAttempts` times in all; after the last failure the trigger is reported to `onError`
   * and skipped, so one poisoned trigger cannot stall the stream. Triggers are handled one at a
   * time in stream order, and the client remembers only the last event id (the server's ids
   * grow monotonically), so its memory does not grow with the number of triggers.
   */
  triggers (onTrigger: (t: Trigger) => unknown, opts: {
    lastEventId?: string | null
    onError?: (e: Error) => void
    /** First reconnect delay (ms), doubled up to 30 s; default 1000. */
    retryMs?: number
    /** Tries of a failing handler per trigger, the first included; default 5. */
    handlerAttempts?: number
    /** Delay (ms) before the first retry of a failing handler, doubled each time; default 500. */
    handlerRetryMs?: number
  } = {}): Subscription {
    const deviceId = this.need()
    let last = opts.lastEventId ?? null
    let closed = false
    let abort: AbortController | null = null
    const attempts = Math.max(1, opts.handlerAttempts ?? 5)
    const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))
    // Replays after a reconnect repeat ids we already handled: numeric ids compare, others pass.
    const done = (id: string | null): boolean => id !== null && last !== null && /^\d+$/.test(id) && /^\d+$/.test(last) && Number(id) <= Number(last)
    const handle = async (id: string | null, t: Trigger): Promise<void> => {
      let wait = opts.handlerRetryMs ?? 500
      for (let k = 1; !closed; k++) {
        try {
          await onTrigger(t)
          break
        } catch (err) {
          const e = err instanceof Error ? err : new Error(String(err))
          opts.onError?.(new InstoreError(0, k < attempts ? 'HANDLER_FAILED' : 'HANDLER_GAVE_UP', `trigger ${t.triggerId}: handler failed (try ${k} of ${attempts}): ${e.message}`))
          if (k >= attempts) break
          await sleep(wait)
          wait *= 2
        }
      }
      if (!closed && id) last = id
    }
    const run = async (): Promise<void> => {
      let delay = opts.retryMs ?? 1000
      while (!closed) {
        abort = new AbortController()
        try {
          const res = await this.f(`${this.o.baseUrl.replace(/\/$/, '')}/v1/devices/${deviceId}/triggers`, {
            headers: { accept: 'text/event-stream', authorization: `Bearer ${this.token ?? ''}`, ...(last ? { 'last-event-id': last } : {}) },
            signal: abort.signal
          })
          if (res.status === 401 || res.status === 403 || res.status === 404) throw new InstoreError(res.status, 'STREAM_REFUSED', `trigger stream refused (${res.status})`)
          if (!res.ok || !res.body) throw new Error(`trigger stream: HTTP ${res.status}`)
          delay = opts.retryMs ?? 1000
          await readEvents(res.body, async (id, event, data) => {
            if (event !== 'trigger' || !data || closed || done(id)) return
            await handle(id, JSON.parse(data) as Trigger)
          })
        } catch (err) {
          if (closed) return
          opts.onError?.(err as Error)
          if (err instanceof InstoreError && err.status !== 0) return
        }
        if (closed) return
        await sleep(delay)
        delay = Math.min(30_000, delay * 2)
      }
    }
    void run()
    return {
      get lastEventId () { return last },
      close () { closed = true; abort?.abort() }
    }
  }
}

/** Minimal SSE parser (WHATWG "event stream interpretation"): id, event and data fields. */
async function readEvents (body: ReadableStream<Uint8Array>, onEvent: (id: string | null, event: string, data: string) => Promise<void>): Promise<void> {
  const reader = body.getReader()
  const dec = new TextDecoder()
  let buf = ''; let id: string | null = null; let event = 'message'; let data: string[] = []
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    buf += dec.decode(value, { stream: true })
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, '')
      buf = buf.slice(nl + 1)
      if (line === '') {
        if (data.length > 0) await onEvent(id, event, data.join('\n'))
        event = 'message'; data = []
        continue
      }
      if (line.startsWith(':')) continue
      const c = line.indexOf(':')
      const field = c < 0 ? line : line.slice(0, c)
      const val = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '')
      if (field === 'id') id = val
      else if (field === 'event') event = val
      else if (field === 'data') data.push(val)
    }
  }
}
