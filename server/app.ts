// The central server (contract §6): fastify with a JSON schema on every route, coded errors
// (4xx explained, 5xx detail hidden), OpenAPI at /docs, /healthz and /metrics.
import { LIVE_MIN_INTERVAL_MS } from './routes/live-gate.ts'
import { STATUS_CODES } from 'node:http'
import Fastify, { type FastifyInstance, type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify'
import swagger from '@fastify/swagger'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import { openData } from './db/db.ts'
import { startRetention, startMonthUpkeep, startStaleSweep, hourly } from './db/retention.ts'
import { DbRateStore } from './db/rate-limit.ts'
import { isBusy } from './db/retry.ts'
import { TriggerHub, DEFAULT_APP_SCHEMES } from './hubs/push.ts'
import { ConsentGate, expireRegistrations, DEFAULT_GATEWAY_RETENTION_MS, DEFAULT_REGISTRATION_TTL_MS } from './identity.ts'
import { HttpError } from './auth.ts'
import { fillAdminSlot } from './admin-slot.ts'
import { prepareRoute, RATE_LIMITED } from './openapi.ts'
import { jsonDepth } from './json-depth.ts'
import { callerKey } from './caller-address.ts'
import { NoQuery } from './schemas.ts'
import { tokenRoutes } from './routes/tokens.ts'
import { gatewayRoutes } from './routes/gateway.ts'
import { deviceRoutes } from './routes/devices.ts'
import { DEFAULT_DEVICE_LIMITS, deviceLimiter, type DeviceLimits } from './device-limits.ts'
import { campaignRoutes, DEFAULT_CAMPAIGNS_PER_STORE } from './routes/campaigns.ts'
import { analyticsRoutes } from './routes/analytics.ts'
import { dashboardRoutes, LiveHub } from './routes/dashboard.ts'
import { DEFAULT_STREAM_LIMITS, DEFAULT_LEASE_MS } from './hubs/stream-slots.ts'
import { configureStreams, streamMetrics, DEFAULT_STREAM_BUFFERING, type StreamBuffering } from './hubs/sse.ts'
import type { Logger } from '../shared/log.ts'
import type { Context } from './context.ts'
import { SECURITY_HEADERS, PG_BAD_TEXT, FASTIFY_CODES, clientErrorReply } from './http-errors.ts'
import { validationMessage } from './validation-message.ts'
import { ConnectionCap, DEFAULT_BODY_PACE, defaultMaxConnections, trustedPeers } from './connection-cap.ts'
import { DEFAULT_TIMEOUTS, timeoutOptions, timeoutProblems, type ConnectionTimeouts } from './timeouts.ts'

export interface ServerOptions {
  /**
   * The reverse proxies in front of the server (fastify `trustProxy`: an address, a CIDR or a
   * comma-separated list of them): the caller's address for rate limits is then the one they pass
   * on in X-Forwarded-For. Without it, behind a proxy every caller would share the proxy's limits.
   */
  trustProxy?: string
  /** Folder of the SQLite file (when no databaseUrl) and of the bootstrap admin token. */
  dataDir: string
  /** postgres://... : keep everything in this PostgreSQL database, shared with other replicas (default: SQLite in dataDir). */
  databaseUrl?: string
  /** How long raw events are kept, ms (default: for ever); the rollups keep their counts. */
  retentionMs?: number
  log: Logger
  /** Use this admin token instead of generating one on first start (demo, tests). */
  adminToken?: string
  /** Extra routes (the dashboard) registered on the same instance. */
  plugins?: Array<(app: FastifyInstance, ctx: Context) => Promise<void>>
  /** Request limits; each defaults to DEFAULT_LIMITS. */
  limits?: Partial<ServerLimits>
  /** Rotation exponent K of the Eddystone-EIDs issued to apps: a new id every 2^K s (default 10). */
  eidK?: number
  /** Link schemes campaigns may use besides https: and http: (default `app`). */
  appSchemes?: string[]
  /** Oldest event a gateway may post, ms (default 30 days: a gateway offline longer has lost the thread). */
  maxEventAgeMs?: number
  /** Registrations no gateway reported and whose token went unused this long are removed, ms (default 30 days; 0: never). */
  registrationTtlMs?: number
  /** The longest time a gateway keeps data about a subject, ms (default 400 days): how far back a whole config lists erasures. */
  gatewayRetentionMs?: number
}

/** With StreamBuffering and ConnectionTimeouts (timeouts.ts): how much a stream whose client stopped reading may hold (hubs/sse.ts); DeviceLimits (device-limits.ts): what an app's token may write. */
export interface ServerLimits extends StreamBuffering, ConnectionTimeouts, DeviceLimits {
  /** Largest request body, bytes (413 beyond). */
  bodyLimitBytes: number
  /** Deepest nesting of objects and arrays in a JSON body (400 INSTORE_TOO_DEEP beyond). */
  maxJsonDepth: number
  /** Anonymous registrations (POST /v1/devices) per caller address per window (429 beyond). */
  registrationsPerWindow: number
  /** Failed authentications (no, unknown or revoked token) per caller address per window (429 beyond). */
  authFailuresPerWindow: number
  /** The rate limits' window, ms. */
  windowMs: number
  /** Campaigns (active or not) that may name one store (409 INSTORE_TOO_MANY_CAMPAIGNS beyond). */
  campaignsPerStore: number
  /** Trigger streams of one device open at once, across replicas (429 INSTORE_TOO_MANY_STREAMS beyond). */
  streamsPerDevice: number
  /** Trigger streams opened with one token at once, across replicas (429 INSTORE_TOO_MANY_STREAMS beyond). */
  streamsPerToken: number
  /** Live dashboard streams opened with one token at once, across replicas (429 INSTORE_TOO_MANY_LIVE_STREAMS beyond). */
  liveStreamsPerToken: number
  /** Live dashboard streams of one store open at once, across replicas (429 INSTORE_TOO_MANY_LIVE_STREAMS beyond). */
  liveStreamsPerStore: number
  /** How long a stream's place outlives the last renewal by its replica, ms (PostgreSQL): how long a killed replica's streams still count. */
  streamLeaseMs: number
  /** Trigger streams open at once on one replica, whoever holds them (503 INSTORE_STREAMS_FULL with Retry-After beyond); keep it under the process's open-file limit. */
  triggerStreamsPerReplica: number
  /** Trigger streams open at once on one replica from one caller address (429 INSTORE_TOO_MANY_STREAMS beyond). */
  triggerStreamsPerAddress: number
  /** Shortest time between the end of one live snapshot of a store and the next one taken on this replica, ms (429 INSTORE_LIVE_BUSY before, live-gate.ts); 0 for no pause, one at a time still. */
  liveMinIntervalMs: number
}

// A site file or a batch of 1,000 events fits the body limit; GeoJSON nests about 8 deep. An app
// registers once per install, but a shop's Wi-Fi or a carrier's NAT puts many installs behind one
// address: the registration limit allows a crowd's burst and stops a script's thousands.
export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  bodyLimitBytes: 4 * 1024 * 1024,
  maxJsonDepth: 32,
  registrationsPerWindow: 120,
  authFailuresPerWindow: 30,
  windowMs: 60_000,
  campaignsPerStore: DEFAULT_CAMPAIGNS_PER_STORE,
  liveMinIntervalMs: LIVE_MIN_INTERVAL_MS,
  ...DEFAULT_STREAM_LIMITS,
  streamLeaseMs: DEFAULT_LEASE_MS,
  ...DEFAULT_STREAM_BUFFERING,
  ...DEFAULT_TIMEOUTS,
  ...DEFAULT_DEVICE_LIMITS
})

export { BOOTSTRAP_TOKEN_FILE } from './admin-slot.ts'

export const DEFAULT_MAX_EVENT_AGE_MS = 30 * 86_400_000

export type { Context } from './context.ts'

export async function buildServer(o: ServerOptions): Promise<{ app: FastifyInstance; ctx: Context; bootstrapToken: string | null }> {
  const limits: ServerLimits = Object.freeze({ ...DEFAULT_LIMITS, ...o.limits })
  const badLimits = Object.entries(limits)
    .filter(([k, v]) => !(typeof v === 'number' && (v >= 1 || ((k === 'maxConnections' || k === 'liveMinIntervalMs') && v === 0))))
    .map(([k, v]) => `limits.${k} must be a number >= 1, got ${String(v)}`)
    .concat(timeoutProblems(limits))
  if (badLimits.length > 0) throw new Error(badLimits.join('; '))
  const data = await openData({ dataDir: o.dataDir, databaseUrl: o.databaseUrl, onError: err => o.log.warn('database connection lost', { err: err.message }) })
  const db = data.db
  const appSchemes = (o.appSchemes ?? DEFAULT_APP_SCHEMES).map(s => s.toLowerCase())
  const ctx: Context = {
    db,
    data,
    hub: new TriggerHub(data, Date.now, appSchemes, limits, limits.streamLeaseMs),
    live: new LiveHub(data),
    metrics: {
      eventsAccepted: 0,
      eventsDuplicate: 0,
      eventsRefused: {},
      liveRefused: {},
      requests: 0,
      errors5xx: 0,
      refused: {},
      registrationsExpired: 0,
      configBuilds: 0,
      configStreamsCut: { build_failed: 0, client_left: 0, stalled: 0 }
    },
    log: o.log,
    consent: new ConsentGate(db),
    ...(o.eidK !== undefined ? { eidK: o.eidK } : {}),
    policy: {
      maxEventAgeMs: o.maxEventAgeMs ?? DEFAULT_MAX_EVENT_AGE_MS,
      appSchemes,
      erasureWindowMs: o.gatewayRetentionMs ?? DEFAULT_GATEWAY_RETENTION_MS,
      campaignsPerStore: limits.campaignsPerStore,
      liveMinIntervalMs: limits.liveMinIntervalMs,
      replyStallMs: limits.replyStallMs
    }
  }
  const bootstrapToken = await fillAdminSlot({ data, dataDir: o.dataDir, log: o.log, given: o.adminToken })

  // Every refusal is counted by its code (instore_server_refused_total).
  const refuse = (code: string) => {
    ctx.metrics.refused[code] = (ctx.metrics.refused[code] ?? 0) + 1
    return code
  }

  // forceCloseConnections: open SSE streams must not hold a shutdown forever.
  let securityHeaders: Promise<Record<string, string>> | null = null
  // What helmet writes, read once from a reply that went through it.
  const helmetHeaders = () => {
    securityHeaders ??= app
      .inject({ method: 'GET', url: '/healthz' })
      .then(probe => Object.fromEntries(SECURITY_HEADERS.flatMap(h => (typeof probe.headers[h] === 'string' ? [[h, probe.headers[h]]] : []))))
    return securityHeaders
  }
  const app: FastifyInstance = Fastify({
    ...(o.trustProxy !== undefined ? { trustProxy: o.trustProxy } : {}),
    logger: false,
    bodyLimit: limits.bodyLimitBytes,
    forceCloseConnections: true,
    ...timeoutOptions(limits),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    // Errors found while routing (a malformed URL, an over-long path parameter) never reach hooks
    // (helmet's included) nor the error handler: answer them in the house format, with the same
    // security headers, without echoing the URL.
    frameworkErrors: (err, _req, reply) => {
      void (async () => {
        await (reply as FastifyReply)
          .code(err.statusCode ?? 400)
          .headers(await helmetHeaders())
          .send({ error: refuse(FASTIFY_CODES[err.code] ?? 'INSTORE_BAD_REQUEST'), message: `the request could not be routed (${err.code})` })
      })()
    },
    // Requests Node's parser refuses before fastify sees them (two Content-Lengths, Transfer-Encoding
    // with Content-Length, headers over Node's limit): the house format and headers all the same.
    clientErrorHandler: (err, socket) => {
      if ((err as { code?: string }).code === 'ECONNRESET' || socket.destroyed) return
      const [status, code, message] = clientErrorReply((err as { code?: string }).code)
      refuse(code)
      void helmetHeaders()
        .catch(() => ({}) as Record<string, string>)
        .then(headers => {
          if (!socket.writable) return
          const body = JSON.stringify({ error: code, message })
          const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`)
          socket.end(
            `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${lines.join('')}content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
          )
        })
        .finally(() => {
          socket.destroySoon()
        })
    }
  })
  const pace = { ...DEFAULT_BODY_PACE, minBytesPerSecond: limits.minBodyBytesPerSecond, replyStallMs: limits.replyStallMs }
  const connectionCap = new ConnectionCap(limits.connectionsPerAddress, trustedPeers(o.trustProxy), limits.maxConnections || defaultMaxConnections(), pace)
  connectionCap.attach(app.server)
  app.decorateRequest('principal', null)
  app.addHook('onRequest', async () => {
    ctx.metrics.requests++
  })
  // Limits: authentication at onRequest before any body is read, a JSON depth limit before
  // parsing (a deeply nested body would overflow the stack of whatever walks it), rate limits on
  // anonymous registration and on callers that keep failing authentication.
  app.addHook('onRoute', r => {
    // A route that declares no query takes none: an unknown parameter is refused (docs/api.md), not ignored.
    if (r.schema?.querystring === undefined && r.schema?.hide !== true) r.schema = { ...r.schema, querystring: NoQuery }
    prepareRoute(r)
    if (RATE_LIMITED.has(`${String(r.method)} ${r.url}`)) r.config = { ...r.config, rateLimit: { max: limits.registrationsPerWindow, timeWindow: limits.windowMs } }
  })
  const jsonParser = app.getDefaultJsonParser('error', 'error')
  // JSON only: fastify's default text/plain parser would hand a string to routes that expect an
  // object; without it such a body is refused as any other type (415 INSTORE_BAD_MEDIA_TYPE).
  app.removeContentTypeParser(['application/json', 'text/plain'])
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = String(body)
    if (jsonDepth(text) > limits.maxJsonDepth) {
      done(new HttpError(400, 'INSTORE_TOO_DEEP', `JSON nested deeper than ${limits.maxJsonDepth} levels`), undefined)
      return
    }
    jsonParser(req, text, done)
  })
  // Counted in the database: every replica behind the load balancer sees the same counts.
  const rateStore = DbRateStore.for(db)
  await app.register(rateLimit, {
    global: false,
    store: rateStore,
    hook: 'onRequest',
    keyGenerator: req => callerKey(req.ip),
    errorResponseBuilder: (_req, c) => new HttpError(429, 'INSTORE_RATE_LIMITED', `too many requests; retry in ${Math.ceil(c.ttl / 1000)} s`)
  })
  const authLimiter = app.createRateLimit({ max: limits.authFailuresPerWindow, timeWindow: limits.windowMs })
  app.decorate('authFailed', async (req: FastifyRequest) => {
    const r = await authLimiter(req)
    return !r.isAllowed && r.isExceeded ? r.ttlInSeconds : null
  })
  app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
    if (err instanceof HttpError)
      return reply
        .code(err.statusCode)
        .headers(err.headers)
        .send({ error: refuse(err.code), message: err.message })
    const v = (err as FastifyError).validation
    if (v) return reply.code(400).send({ error: refuse('INSTORE_BAD_REQUEST'), message: validationMessage((err as FastifyError).validationContext ?? 'body', v, req.body) })
    // PostgreSQL refuses text it cannot store (a NUL character in a path or query parameter):
    // the caller's input, not a server fault. SQLite stores such text and finds nothing.
    if (PG_BAD_TEXT.has(String((err as { code?: unknown }).code)))
      return reply.code(400).send({ error: refuse('INSTORE_BAD_TEXT'), message: 'the request holds a character the database cannot store (NUL)' })
    // No pooled connection free in time (db.ts), a lock or statement past its bound: busy, not broken.
    if (isBusy(err))
      return reply
        .code(503)
        .header('retry-after', '2')
        .send({ error: refuse('INSTORE_BUSY'), message: 'the database is busy: try again later' })
    const status = (err as FastifyError).statusCode ?? 500
    if (status < 500) return reply.code(status).send({ error: refuse(FASTIFY_CODES[(err as FastifyError).code] ?? 'INSTORE_BAD_REQUEST'), message: err.message })
    ctx.metrics.errors5xx++
    o.log.error('request failed', { method: req.method, url: req.url.split('?')[0], err: err.message })
    return reply.code(500).send({ error: 'INSTORE_INTERNAL', message: 'internal error' })
  })
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'INSTORE_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` }))

  // Security headers on every route, SSE streams included (helmet writes them on the raw response,
  // which a hijacked reply keeps). Scripts only from this server's own files: data an attacker
  // gets onto a page can never run, even where a page forgot to treat it as text.
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        scriptSrcAttr: ["'none'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"]
      }
    },
    // Agrees with frame-ancestors 'none' for browsers that read only the older header.
    frameguard: { action: 'deny' }
  })
  await app.register(swagger, {
    openapi: { info: { title: 'instore central server', version: '0.1.0' }, components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } } }
  })
  configureStreams(app, limits)
  await gatewayRoutes(app, ctx)
  await deviceRoutes(app, ctx, deviceLimiter(app, limits, limits.windowMs))
  await campaignRoutes(app, ctx)
  await analyticsRoutes(app, ctx)
  await dashboardRoutes(app, ctx)
  await tokenRoutes(app, ctx)
  for (const p of o.plugins ?? []) await p(app, ctx)

  app.get('/docs', { schema: { hide: true } }, async () => app.swagger())
  // Every open SSE stream here: phones' trigger streams and dashboards' live streams.
  const liveStreams = () => ctx.hub.slots.held('live')
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok', sseConnections: ctx.hub.connections + liveStreams(), liveStreams: liveStreams() }))
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const m = ctx.metrics
    const h = ctx.hub
    const lines = [
      '# TYPE instore_server_events_total counter',
      `instore_server_events_total{result="accepted"} ${m.eventsAccepted}`,
      `instore_server_events_total{result="duplicate"} ${m.eventsDuplicate}`,
      '# TYPE instore_server_events_refused_total counter',
      ...Object.entries(m.eventsRefused).map(([r, n]) => `instore_server_events_refused_total{reason="${r}"} ${n}`),
      '# TYPE instore_server_live_refused_total counter',
      ...Object.entries(m.liveRefused).map(([r, n]) => `instore_server_live_refused_total{reason="${r}"} ${n}`),
      ...Object.entries(ctx.consent.refused).map(([r, n]) => `instore_server_events_total{result="refused",reason="${r}"} ${n}`),
      '# TYPE instore_server_triggers_pushed_total counter',
      `instore_server_triggers_pushed_total ${h.pushed}`,
      '# TYPE instore_server_triggers_dropped_total counter',
      ...Object.entries(h.dropped).map(([r, n]) => `instore_server_triggers_dropped_total{reason="${r}"} ${n}`),
      '# TYPE instore_server_streams_refused_total counter',
      ...Object.entries(h.slots.refused).map(([r, n]) => `instore_server_streams_refused_total{limit="${r}"} ${n}`),
      '# TYPE instore_server_streams_evicted_total counter',
      `instore_server_streams_evicted_total ${h.slots.evicted}`,
      '# TYPE instore_server_streams_replaced_total counter',
      `instore_server_streams_replaced_total ${h.slots.replaced}`,
      ...streamMetrics(app),
      ...connectionCap.metrics(),
      '# TYPE instore_server_config_builds_total counter',
      `instore_server_config_builds_total ${m.configBuilds}`,
      '# TYPE instore_server_config_streams_cut_total counter',
      ...Object.entries(m.configStreamsCut).map(([r, n]) => `instore_server_config_streams_cut_total{reason="${r}"} ${n}`),
      '# TYPE instore_server_registrations_expired_total counter',
      `instore_server_registrations_expired_total ${m.registrationsExpired}`,
      '# TYPE instore_server_sse_connections gauge',
      `instore_server_sse_connections ${h.connections + liveStreams()}`,
      '# TYPE instore_server_sse_streams gauge',
      `instore_server_sse_streams{kind="triggers"} ${h.connections}`,
      `instore_server_sse_streams{kind="live"} ${liveStreams()}`,
      '# TYPE instore_server_requests_total counter',
      `instore_server_requests_total ${m.requests}`,
      '# TYPE instore_server_errors_total counter',
      `instore_server_errors_total ${m.errors5xx}`,
      '# TYPE instore_server_refused_total counter',
      ...Object.entries(m.refused).map(([code, n]) => `instore_server_refused_total{reason="${code}"} ${n}`)
    ]
    return reply.type('text/plain; version=0.0.4').send(lines.join('\n') + '\n')
  })
  const retention =
    o.retentionMs !== undefined
      ? startRetention(db, data.engine, o.retentionMs, err => o.log.warn('dropping old events failed', { err: err.message }), Date.now, ctx.policy.maxEventAgeMs)
      : null
  const months = startMonthUpkeep(db, data.engine, err => o.log.warn('creating the coming months of events failed', { err: err.message }))
  const stale = startStaleSweep(db, err => o.log.warn('dropping stale open visits failed', { err: err.message }))
  const ttl = o.registrationTtlMs ?? DEFAULT_REGISTRATION_TTL_MS
  const expiry =
    ttl > 0
      ? hourly(
          async () => {
            const n = await expireRegistrations(db, Date.now(), ttl, data.engine === 'postgres')
            ctx.metrics.registrationsExpired += n
            if (n > 0) o.log.info('unused registrations expired', { devices: n })
          },
          err => o.log.warn('expiring unused registrations failed', { err: err.message })
        )
      : null
  app.addHook('onClose', async () => {
    await ctx.hub.slots.stop()
    await expiry?.stop()
    await months.stop()
    await stale.stop()
    await retention?.stop()
    await data.close()
  })
  return { app, ctx, bootstrapToken }
}
