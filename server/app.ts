// The central server (contract §6): fastify with a JSON schema on every route, coded errors
// (4xx explained, 5xx detail hidden), OpenAPI at /docs, /healthz and /metrics.
import Fastify, { type FastifyInstance, type FastifyError } from 'fastify'
import swagger from '@fastify/swagger'
import type Database from 'better-sqlite3'
import { openDb } from './db.ts'
import { TriggerHub } from './push.ts'
import { ConsentGate } from './identity.ts'
import { HttpError, issueToken } from './auth.ts'
import { gatewayRoutes } from './routes/gateway.ts'
import { deviceRoutes } from './routes/devices.ts'
import { campaignRoutes } from './routes/campaigns.ts'
import { analyticsRoutes } from './routes/analytics.ts'
import { dashboardRoutes, LiveHub } from './routes/dashboard.ts'
import type { Logger } from '../shared/log.ts'

export interface ServerOptions {
  dataDir: string
  log: Logger
  /** Use this admin token instead of generating one on first start (demo, tests). */
  adminToken?: string
  /** Extra routes (the dashboard) registered on the same instance. */
  plugins?: Array<(app: FastifyInstance, ctx: Context) => Promise<void>>
  /** Rotation exponent K of the Eddystone-EIDs issued to apps: a new id every 2^K s (default 10). */
  eidK?: number
}

export interface Context {
  db: Database.Database
  hub: TriggerHub
  live: LiveHub
  metrics: { eventsAccepted: number, eventsDuplicate: number, requests: number, errors5xx: number }
  log: Logger
  /** Events refused by presence consent (server/identity.ts). */
  consent: ConsentGate
  eidK?: number
}

export async function buildServer (o: ServerOptions): Promise<{ app: FastifyInstance, ctx: Context, bootstrapToken: string | null }> {
  const db = openDb(o.dataDir)
  const ctx: Context = { db, hub: new TriggerHub(db), live: new LiveHub(), metrics: { eventsAccepted: 0, eventsDuplicate: 0, requests: 0, errors5xx: 0 }, log: o.log, consent: new ConsentGate(db), ...(o.eidK !== undefined ? { eidK: o.eidK } : {}) }
  let bootstrapToken: string | null = null
  const admins = (db.prepare("SELECT COUNT(*) AS n FROM tokens WHERE role = 'admin'").get() as { n: number }).n
  if (o.adminToken) issueToken(db, 'admin', [], null, o.adminToken)
  else if (admins === 0) bootstrapToken = issueToken(db, 'admin')

  // forceCloseConnections: open SSE streams must not hold a shutdown forever.
  const app = Fastify({ logger: false, bodyLimit: 4 * 1024 * 1024, forceCloseConnections: true, ajv: { customOptions: { removeAdditional: false, coerceTypes: false } } })
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
      ...Object.entries(ctx.consent.refused).map(([r, n]) => `instore_server_events_total{result="refused",reason="${r}"} ${n}`),
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
