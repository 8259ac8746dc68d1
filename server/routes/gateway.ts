// Gateway-facing routes: event uplink (idempotent on id) and config pull (ETag). Plus the admin
// routes that provision a store (its site and gateway token) and operator tokens.
import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Context } from '../app.ts'
import { requireRole, issueToken, HttpError, mustReachStore } from '../auth.ts'
import { StoreParams, ConfigQuery, type ConfigQueryT, EventsBody, EventsReply, StoreBody, OperatorBody, ErrorReply, type EventsBodyT, type OperatorBodyT } from '../schemas.ts'
import { siteProblems } from '../../shared/site.ts'
import { gatewayConfig } from '../identity.ts'

export async function gatewayRoutes (app: FastifyInstance, { db, hub, metrics, live, consent }: Context): Promise<void> {
  const insert = db.prepare('INSERT OR IGNORE INTO events (id, store_id, type, subject, ts, body, received) VALUES (?, ?, ?, ?, ?, ?, ?)')

  app.post<{ Params: { storeId: string }, Body: EventsBodyT }>('/v1/stores/:storeId/events', {
    schema: { tags: ['gateway'], params: StoreParams, body: EventsBody, response: { 200: EventsReply, 400: ErrorReply, 403: ErrorReply } },
    preHandler: requireRole(db, 'gateway', 'admin')
  }, async (req) => {
    const { storeId } = req.params
    mustReachStore(req.principal, storeId, `this token cannot post for store ${storeId}`)
    const wrong = req.body.events.find(e => e.storeId !== storeId)
    if (wrong) throw new HttpError(400, 'INSTORE_STORE_MISMATCH', `event ${wrong.id} is for store ${wrong.storeId}, not ${storeId}`)
    let accepted = 0
    const fresh: typeof req.body.events = []
    // Presence consent, again here: events about a shopper without it are refused, never stored.
    const allowed = consent.filter(req.body.events)
    db.transaction(() => {
      const now = Date.now()
      for (const e of allowed) {
        if (insert.run(e.id, storeId, e.type, e.subject, e.ts, JSON.stringify(e), now).changes === 1) { accepted++; fresh.push(e) }
      }
    })()
    // Pushes happen after the commit: a phone never sees a trigger the server then forgot.
    for (const e of fresh) if (e.type === 'trigger.fired') hub.deliver(e)
    for (const e of fresh) live.publish(storeId, 'event', e)
    metrics.eventsAccepted += accepted
    metrics.eventsDuplicate += allowed.length - accepted
    return { accepted, duplicates: allowed.length - accepted }
  })

  // Whole, or with ?since=<version> only what changed since (devices, consent, erasures, and the
  // site and campaigns when they did): gateways pull it every few seconds, cheaply.
  app.get<{ Params: { storeId: string }, Querystring: ConfigQueryT }>('/v1/stores/:storeId/config', {
    schema: { tags: ['gateway'], params: StoreParams, querystring: ConfigQuery, response: { 400: ErrorReply, 403: ErrorReply, 404: ErrorReply } },
    preHandler: requireRole(db, 'gateway', 'admin')
  }, async (req, reply) => {
    const { storeId } = req.params
    mustReachStore(req.principal, storeId, `this token cannot read store ${storeId}`)
    const store = db.prepare('SELECT site FROM stores WHERE id = ?').get(storeId) as { site: string } | undefined
    if (!store) throw new HttpError(404, 'INSTORE_NO_STORE', `unknown store ${storeId}`)
    const r = gatewayConfig(db, storeId, JSON.parse(store.site), req.query.since, Date.now())
    if (!r.ok) throw new HttpError(400, 'INSTORE_BAD_SINCE', r.reason)
    const body = JSON.stringify(r.config)
    const etag = '"' + createHash('sha256').update(body).digest('base64url').slice(0, 27) + '"'
    reply.header('etag', etag).header('cache-control', 'no-cache')
    if (req.headers['if-none-match'] === etag) return reply.code(304).send()
    return reply.type('application/json').send(body)
  })

  app.post<{ Body: { site: { storeId: string } } }>('/v1/stores', {
    schema: { tags: ['admin'], body: StoreBody },
    preHandler: requireRole(db, 'admin')
  }, async (req, reply) => {
    const problems = siteProblems(req.body.site)
    if (problems.length > 0) throw new HttpError(400, 'INSTORE_BAD_SITE', problems.map(p => `${p.path || '/'}: ${p.reason}`).join('; '))
    const storeId = req.body.site.storeId
    db.prepare('INSERT INTO stores (id, site, updated) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET site = excluded.site, updated = excluded.updated')
      .run(storeId, JSON.stringify(req.body.site), Date.now())
    const token = issueToken(db, 'gateway', [storeId])
    return reply.code(201).send({ storeId, gatewayToken: token })
  })

  app.post<{ Body: OperatorBodyT }>('/v1/operators', {
    schema: { tags: ['admin'], body: OperatorBody },
    preHandler: requireRole(db, 'admin')
  }, async (req, reply) => reply.code(201).send({ role: req.body.role, stores: req.body.stores, token: issueToken(db, req.body.role, req.body.stores) }))
}
