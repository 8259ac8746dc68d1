// The instore app SDK: register with consent (the server issues the identity), compute the
// rotating Eddystone-EID the app advertises, receive "in-store now" triggers (Server-Sent Events
// over fetch, so it runs in browsers and in Node 18+ alike, with automatic reconnect and resume
// from the last event id), acknowledge what the shopper did, withdraw consent, erase.

export interface Consent {
  presence: boolean
  marketing: boolean
}

/** What the server issued at registration: advertise `eid(now)`, never a fixed id. */
export interface Identity {
  /** Stable subject gateways resolve the EIDs to (`app:` + 16 hex digits). */
  subject: string
  /** 16-byte Eddystone-EID identity key, 32 hex digits: keep it secret, in the app's keystore. */
  key: string
  /** Rotation exponent: a new EID every 2^k seconds. */
  k: number
}

export interface Registration {
  deviceId: string
  token: string
  subject: string
  eid: { key: string; k: number }
}

export interface Trigger {
  triggerId: string
  storeId: string
  campaignId: string
  ts: number
  /** After this time (ms) the message is no longer worth showing. */
  expires: number
  content?: { title: string; body?: string; url?: string; ttlMin?: number }
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
  identity?: Identity
  /** The consent last given (persist it with the credentials): `withdrawConsent()` keeps its presence choice. */
  consent?: Consent
  /** Injected fetch (tests, custom agents); default globalThis.fetch. */
  fetch?: typeof fetch
}

export interface Subscription {
  /** Id of the last trigger received: persist it to resume after an app restart. */
  readonly lastEventId: string | null
  close(): void
}

export class InstoreError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** How long the server asked to wait before trying again, ms (a 429's or 503's Retry-After), if it said. */
    readonly retryAfterMs?: number
  ) {
    super(message)
  }
}

/** The longest wait a Retry-After is followed for, ms: a hostile value cannot silence the app for hours. */
const RETRY_AFTER_MAX_MS = 5 * 60_000

/** The wait (ms) an answer's Retry-After asks for, in whole seconds, bounded; undefined when absent or unreadable. */
function retryAfterMs(res: Response): number | undefined {
  const t = res.headers.get('retry-after')?.trim() ?? ''
  return /^\d{1,9}$/.test(t) ? Math.min(RETRY_AFTER_MAX_MS, Number(t) * 1000) : undefined
}

export class InstoreClient {
  deviceId: string | null
  token: string | null
  identity: Identity | null
  /** The consent last given through this client (or restored from the options); null when unknown. */
  consent: Consent | null
  private readonly f: typeof fetch
  /** Consent changes, one at a time: a withdrawal reads the consent the calls before it left. */
  private consentQueue: Promise<unknown> = Promise.resolve()

  constructor(private readonly o: ClientOptions) {
    this.deviceId = o.deviceId ?? null
    this.token = o.token ?? null
    this.identity = o.identity ?? null
    this.consent = o.consent ?? null
    this.f = o.fetch ?? globalThis.fetch.bind(globalThis)
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.f(this.o.baseUrl.replace(/\/$/, '') + path, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
    if (!res.ok) {
      const e = (await res.json().catch(() => ({}))) as { error?: string; message?: string }
      throw new InstoreError(res.status, e.error ?? 'HTTP_' + res.status, e.message ?? res.statusText, retryAfterMs(res))
    }
    return (res.status === 204 ? undefined : await res.json()) as T
  }

  private need(): string {
    if (!this.deviceId || !this.token) throw new InstoreError(0, 'NOT_REGISTERED', 'register() first')
    return this.deviceId
  }

  /**
   * Registers this install with the shopper's consent. The server issues its id, token, subject
   * and EID identity key: persist them all. A reinstall registers again and is a new device.
   */
  async register(consent: Consent): Promise<Registration> {
    const r = await this.call<Registration>('POST', '/v1/devices', { consent })
    this.deviceId = r.deviceId
    this.token = r.token
    this.identity = { subject: r.subject, key: r.eid.key, k: r.eid.k }
    this.consent = { ...consent }
    return r
  }

  /**
   * The Eddystone-EID to advertise at `nowMs` (16 hex digits; default now), computed with
   * WebCrypto so it runs in browsers and Node alike. Advertise it again whenever it changes
   * (every 2^k s): only gateways of this retailer can tell it is this device, and only while it
   * has presence consent.
   */
  async eid(nowMs: number = Date.now()): Promise<string> {
    const id = this.identity
    if (!id) throw new InstoreError(0, 'NOT_REGISTERED', 'register() first')
    return await eddystoneEid(hexBytes(id.key), id.k, Math.floor(nowMs / 1000) >>> 0)
  }

  async setConsent(consent: Consent): Promise<void> {
    await this.consentChange(() => consent)
  }

  /**
   * Withdraws marketing consent: no more triggers, presence analytics as the shopper chose. When
   * that choice is unknown (a client restored without `consent`), presence is withdrawn too: a
   * consent this client cannot vouch for is never kept. `setConsent()` sets both explicitly.
   */
  async withdrawConsent(): Promise<void> {
    await this.consentChange(known => ({ presence: known?.presence === true, marketing: false }))
  }

  /**
   * Sends the consent `next` makes of the one known, after every earlier change has settled. The
   * server replaces both fields, so while a change is on its way, or after one failed (it may have
   * been applied, its reply lost), the consent is unknown: a withdrawal then sends presence false.
   */
  private consentChange(next: (known: Consent | null) => Consent): Promise<void> {
    const id = this.need()
    const run = this.consentQueue.then(async () => {
      const consent = next(this.consent)
      this.consent = null
      await this.call('PUT', `/v1/devices/${id}/consent`, consent)
      this.consent = { ...consent }
    })
    this.consentQueue = run.catch(() => {})
    return run
  }

  /** Erases the device and its history everywhere (server now, gateways on their next config pull). */
  async erase(): Promise<void> {
    await this.call('DELETE', `/v1/devices/${this.need()}`)
    this.deviceId = null
    this.token = null
    this.identity = null
    this.consent = null
  }

  /**
   * Acknowledges a trigger: pass the `Trigger` received (its `storeId` goes with the ack), or its
   * id and `storeId`. Event ids are unique per store only: an ack without a store is refused
   * (`INSTORE_AMBIGUOUS_TRIGGER`, 409) when two stores sent this device a trigger of that id.
   */
  async ack(trigger: string | Pick<Trigger, 'triggerId' | 'storeId'>, status: AckStatus, storeId?: string): Promise<void> {
    // Without a device token the server could only refuse it: say so here, sending nothing.
    this.need()
    const id = typeof trigger === 'string' ? trigger : trigger.triggerId
    const store = typeof trigger === 'string' ? storeId : trigger.storeId
    await this.call('POST', `/v1/triggers/${encodeURIComponent(id)}/ack`, store === undefined ? { status } : { status, storeId: store })
  }

  /**
   * Receives triggers until close(). Reconnects with backoff and resumes after the last event
   * received, so a trigger is delivered once even across drop-outs. Pass `lastEventId` saved from
   * an earlier session to resume across app restarts.
   *
   * A trigger counts as received only once `onTrigger` has returned (or its promise resolved):
   * `lastEventId` moves past it then, and not before. A handler that throws or rejects gets the
   * same trigger again after a growing delay (`handlerRetryMs`, doubled each time), at most
   * `handlerAttempts` times in all; after the last failure the trigger is reported to `onError`
   * and skipped, so one poisoned trigger cannot stall the stream. A handler may therefore run more
   * than once for one trigger: make it idempotent (key what it shows on `triggerId`, show it once,
   * then ack; a failing ack thrown again is retried without showing it twice). Triggers are handled one at a
   * time in stream order, and the client remembers only the last event id (the server's ids
   * grow monotonically), so its memory does not grow with the number of triggers.
   */
  triggers(
    onTrigger: (t: Trigger) => unknown,
    opts: {
      lastEventId?: string | null
      onError?: (e: Error) => void
      /** First reconnect delay (ms), doubled up to 30 s; default 1000. */
      retryMs?: number
      /** Tries of a failing handler per trigger, the first included; default 5. */
      handlerAttempts?: number
      /** Delay (ms) before the first retry of a failing handler, doubled each time; default 500. */
      handlerRetryMs?: number
      /**
       * Called each time `lastEventId` moves past a trigger (after its handler returned): the
       * place to persist it. Saving it from inside the handler saves the id before this trigger's.
       */
      onLastEventId?: (id: string) => void
      /** Every wait of the stream (reconnects, handler retries), ms; default a timer. Injected by tests to see the waits decided. */
      sleep?: (ms: number) => Promise<void>
    } = {}
  ): Subscription {
    const deviceId = this.need()
    let last = opts.lastEventId ?? null
    let closed = false
    let abort: AbortController | null = null
    const attempts = Math.max(1, opts.handlerAttempts ?? 5)
    // Waits end at close(): a Retry-After may ask for minutes, and a closed stream must not keep the process alive.
    const waits = new Set<() => void>()
    const wait = async (ms: number): Promise<void> =>
      await new Promise<void>(resolve => {
        const end = () => {
          clearTimeout(timer)
          waits.delete(end)
          resolve()
        }
        const timer = setTimeout(end, ms)
        waits.add(end)
      })
    const sleep = opts.sleep ?? wait
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
      if (!closed && id) {
        last = id
        opts.onLastEventId?.(id)
      }
    }
    const run = async (): Promise<void> => {
      let delay = opts.retryMs ?? 1000
      while (!closed) {
        abort = new AbortController()
        // A 429 (too many failed authentications) or 503 says when to come back: not sooner.
        let asked = 0
        try {
          const res = await this.f(`${this.o.baseUrl.replace(/\/$/, '')}/v1/devices/${deviceId}/triggers`, {
            headers: { accept: 'text/event-stream', authorization: `Bearer ${this.token ?? ''}`, ...(last ? { 'last-event-id': last } : {}) },
            signal: abort.signal
          })
          if (res.status === 401 || res.status === 403 || res.status === 404) throw new InstoreError(res.status, 'STREAM_REFUSED', `trigger stream refused (${res.status})`)
          if (!res.ok || !res.body) {
            asked = retryAfterMs(res) ?? 0
            throw new Error(`trigger stream: HTTP ${res.status}${asked > 0 ? `; retry in ${asked} ms as asked` : ''}`)
          }
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
        await sleep(Math.max(delay, asked))
        delay = Math.min(30_000, delay * 2)
      }
    }
    void run()
    return {
      get lastEventId() {
        return last
      },
      close() {
        closed = true
        abort?.abort()
        for (const end of [...waits]) end()
      }
    }
  }
}

function hexBytes(hex: string): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(hex.length / 2)
  for (let i = 0; i < b.length; i++) b[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return b
}

/** AES-128 of one block. WebCrypto has no ECB: CBC with a zero IV over one block is the same. */
async function aesBlock(key: Uint8Array<ArrayBuffer>, block: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const k = await globalThis.crypto.subtle.importKey('raw', key, { name: 'AES-CBC' }, false, ['encrypt'])
  const out = await globalThis.crypto.subtle.encrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, k, block)
  return new Uint8Array(out).slice(0, 16)
}

/**
 * Eddystone-EID (google/eddystone eddystone-eid/eid-computation.md), the twin of the server's
 * shared/eid.ts: temporary key = AES(identity key, 11 × 0 | 0xFF | 0 0 | counter >> 16), then
 * EID = first 8 bytes of AES(temporary key, 11 × 0 | K | counter with its K low bits cleared).
 * The counter is Unix time in seconds.
 */
export async function eddystoneEid(identityKey: Uint8Array<ArrayBuffer>, k: number, counter: number): Promise<string> {
  const t = new Uint8Array(16)
  t[11] = 0xff
  t[14] = (counter >>> 24) & 0xff
  t[15] = (counter >>> 16) & 0xff
  const tk = await aesBlock(identityKey, t)
  const q = (Math.floor(counter / 2 ** k) * 2 ** k) >>> 0
  const e = new Uint8Array(16)
  e[11] = k
  e[12] = (q >>> 24) & 0xff
  e[13] = (q >>> 16) & 0xff
  e[14] = (q >>> 8) & 0xff
  e[15] = q & 0xff
  const out = await aesBlock(tk, e)
  return [...out.slice(0, 8)].map(x => x.toString(16).padStart(2, '0')).join('')
}

/** Minimal SSE parser (WHATWG "event stream interpretation"): id, event and data fields. */
async function readEvents(body: ReadableStream<Uint8Array>, onEvent: (id: string | null, event: string, data: string) => Promise<void>): Promise<void> {
  const reader = body.getReader()
  const dec = new TextDecoder()
  let buf = ''
  let id: string | null = null
  let event = 'message'
  let data: string[] = []
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
        event = 'message'
        data = []
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
