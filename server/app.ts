// The central server (contract §6): fastify with a JSON schema on every route, coded errors
// (4xx explained, 5xx detail hidden), OpenAPI at /docs, /healthz and /metrics.
import Fastify, { type FastifyInstance, type FastifyError, type FastifyReply } from 'fastify'
import swagger from '@fastify/swagger'
import helmet from '@fastify/helmet'
import { openDb } from './db.ts'
import { TriggerHub, DEFAULT_APP_SCHEMES } from './push.ts'
import { HttpError, issueToken } from './auth.ts'
import { gatewayRoutes } from './routes/gateway.ts'
import { deviceRoutes } from './routes/devices.ts'
import { campaignRoutes } from './routes/campaigns.ts'
import { analyticsRoutes } from './routes/analytics.ts'
import { dashboardRoutes, LiveHub } from './routes/dashboard.ts'
import type { Logger } from '../shared/log.ts'
import type { Context } from './context.ts'

export interface ServerOptions {
  dataDir: string
  log: Logger
  /** Use this admin token instead of generating one on first start (demo, tests). */
  adminToken?: string
  /** Extra routes (the dashboard) registered on the same instance. */
  plugins?: Array<(app: FastifyInstance, ctx: Context) => Promise<void>>
  /** Link schemes campaigns may use besides https: and http: (default `app`). */
  appSchemes?: string[]
  /** Oldest event a gateway may post, ms (default 30 days: a gateway offline longer has lost the thread). */
  maxEventAgeMs?: number
}

/** The headers helmet writes, copied onto replies that never reach a route (a malformed URL). */
const SECURITY_HEADERS = ['content-security-policy', 'cross-origin-opener-policy', 'cross-origin-resource-policy', 'origin-agent-cluster',
  'referrer-policy', 'strict-transport-security', 'x-content-type-options', 'x-dns-prefetch-control', 'x-download-options',
  'x-frame-options', 'x-permitted-cross-domain-policies', 'x-xss-protection']
export const DEFAULT_MAX_EVENT_AGE_MS = 30 * 86_400_000

export type { Context } from './context.ts'

export async function buildServer (o: ServerOptions): Promise<{ app: FastifyInstance, ctx: Context, bootstrapToken: string | null }> {
  const db = openDb(o.dataDir)
  const appSchemes = (o.appSchemes ?? DEFAULT_APP_SCHEMES).map(s => s.toLowerCase())
  const ctx: Context = {
    db, hub: new TriggerHub(db, Date.now, appSchemes), live: new LiveHub(), metrics: { eventsAccepted: 0, eventsDuplicate: 0, eventsRefused: {}, liveRefused: {}, requests: 0, errors5xx: 0 }, log: o.log,
    policy: { maxEventAgeMs: o.maxEventAgeMs ?? DEFAULT_MAX_EVENT_AGE_MS, appSchemes }
  }
  let bootstrapToken: string | null = null
  const admins = (db.prepare("SELECT COUNT(*) AS n FROM tokens WHERE role = 'admin'").get() as { n: number }).n
  if (o.adminToken) issueToken(db, 'admin', [], null, o.adminToken)
  else if (admins === 0) bootstrapToken = issueToken(db, 'admin')

  // forceCloseConnections: open SSE streams must not hold a shutdown forever.
  let securityHeaders: Record<string, string> | null = null
  const app: FastifyInstance = Fastify({
    logger: false, bodyLimit: 4 * 1024 * 1024, forceCloseConnections: true, ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    // A URL the router cannot parse never reaches hooks (helmet's included) nor the error handler:
    // answer it in the house format, with the same security headers, without echoing the URL.
    frameworkErrors: (err, _req, reply) => {
      void (async () => {
        if (!securityHeaders) {
          const probe = await app.inject({ method: 'GET', url: '/healthz' })
          securityHeaders = Object.fromEntries(SECURITY_HEADERS.flatMap(h => typeof probe.headers[h] === 'string' ? [[h, probe.headers[h]]] : []))
        }
        await (reply as FastifyReply).code(400).headers(securityHeaders).send({ error: 'INSTORE_BAD_URL', message: `the request could not be routed (${err.code})` })
      })()
    }
  })
  app.decorateRequest('principal', null)
  app.addHook('onRequest', async () => { ctx.metrics.requests++ })
  app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ error: err.code, message: err.message })
    if ((err as FastifyError).validation) return reply.code(400).send({ error: 'INSTORE_BAD_REQUEST', message: err.message })
    const status = (err as FastifyError).statusCode ?? 500
    if (status < 500) return reply.code(status).send({ error: (err as FastifyError).code ?? 'INSTORE_BAD_REQUEST', message: err.message })
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
  await app.register(swagger, { openapi: { info: { title: 'instore central server', version: '0.1.0' }, components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } }, security: [{ bearer: [] }] } })
  await gatewayRoutes(app, ctx)
  await deviceRoutes(app, ctx)
  await campaignRoutes(app, ctx)
  await analyticsRoutes(app, ctx)
  await dashboardRoutes(app, ctx)
  for (const p of o.plugins ?? []) await p(app, ctx)

  app.get('/docs', { schema: { hide: true } }, async () => app.swagger())
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok', sseConnections: ctx.hub.connections }))
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const m = ctx.metrics; const h = ctx.hub
    const lines = [
      '# TYPE instore_server_events_total counter',
      `instore_server_events_total{result="accepted"} ${m.eventsAccepted}`,
      `instore_server_events_total{result="duplicate"} ${m.eventsDuplicate}`,
      '# TYPE instore_server_events_refused_total counter',
      ...Object.entries(m.eventsRefused).map(([r, n]) => `instore_server_events_refused_total{reason="${r}"} ${n}`),
      '# TYPE instore_server_live_refused_total counter',
      ...Object.entries(m.liveRefused).map(([r, n]) => `instore_server_live_refused_total{reason="${r}"} ${n}`),
      '# TYPE instore_server_triggers_pushed_total counter', `instore_server_triggers_pushed_total ${h.pushed}`,
      '# TYPE instore_server_triggers_dropped_total counter',
      ...Object.entries(h.dropped).map(([r, n]) => `instore_server_triggers_dropped_total{reason="${r}"} ${n}`),
      '# TYPE instore_server_sse_connections gauge', `instore_server_sse_connections ${h.connections}`,
      '# TYPE instore_server_requests_total counter', `instore_server_requests_total ${m.requests}`,
      '# TYPE instore_server_errors_total counter', `instore_server_errors_total ${m.errors5xx}`
    ]
    return reply.type('text/plain; version=0.0.4').send(lines.join('\n') + '\n')
  })
  app.addHook('onClose', async () => { db.close() })
  return { app, ctx, bootstrapToken }
}
