// App-facing routes: registration with consent, consent changes, erasure, the SSE trigger stream
// (resumable with Last-Event-ID) and acknowledgements.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Context } from '../context.ts'
import { requireRole, issueToken, HttpError } from '../auth.ts'
import { openEventStream } from '../sse.ts'
import { IdParams, RegisterBody, RegisterReply, ConsentBody, AckBody, ErrorReply, type RegisterBodyT, type ConsentBodyT, type AckBodyT } from '../schemas.ts'

function ownDevice (req: FastifyRequest, id: string): void {
  const p = req.principal
  if (!p || (p.role !== 'admin' && p.deviceId !== id)) throw new HttpError(403, 'INSTORE_OTHER_DEVICE', 'this token belongs to another device')
}

export async function deviceRoutes (app: FastifyInstance, { db, hub }: Context): Promise<void> {
  app.post<{ Body: RegisterBodyT }>('/v1/devices', {
    schema: { tags: ['app'], body: RegisterBody, response: { 201: RegisterReply, 400: ErrorReply } }
  }, async (req, reply) => {
    const { bleId, consent } = req.body
    const deviceId = randomUUID()
    db.transaction(() => {
      // Re-registering an id (a reinstall) replaces the old install and its token.
      const old = db.prepare('SELECT device_id FROM devices WHERE ble_id = ?').get(bleId) as { device_id: string } | undefined
      if (old) { db.prepare('DELETE FROM tokens WHERE device_id = ?').run(old.device_id); db.prepare('DELETE FROM devices WHERE device_id = ?').run(old.device_id) }
      db.prepare('INSERT INTO devices (device_id, ble_id, presence, marketing, created) VALUES (?, ?, ?, ?, ?)')
        .run(deviceId, bleId, consent.presence ? 1 : 0, consent.marketing ? 1 : 0, Date.now())
      db.prepare('DELETE FROM erasures WHERE subject = ?').run(bleId)
    })()
    return reply.code(201).send({ deviceId, token: issueToken(db, 'device', [], deviceId) })
  })

  app.put<{ Params: { id: string }, Body: ConsentBodyT }>('/v1/devices/:id/consent', {
    schema: { tags: ['app'], params: IdParams, body: ConsentBody },
    preHandler: requireRole(db, 'device', 'admin')
  }, async (req) => {
    ownDevice(req, req.params.id)
    const r = db.prepare('UPDATE devices SET presence = ?, marketing = ? WHERE device_id = ?').run(req.body.presence ? 1 : 0, req.body.marketing ? 1 : 0, req.params.id)
    if (r.changes === 0) throw new HttpError(404, 'INSTORE_NO_DEVICE', 'unknown device')
    return { deviceId: req.params.id, consent: req.body }
  })

  app.delete<{ Params: { id: string } }>('/v1/devices/:id', {
    schema: { tags: ['app'], params: IdParams },
    preHandler: requireRole(db, 'device', 'admin')
  }, async (req, reply) => {
    ownDevice(req, req.params.id)
    const dev = db.prepare('SELECT ble_id FROM devices WHERE device_id = ?').get(req.params.id) as { ble_id: string } | undefined
    if (!dev) throw new HttpError(404, 'INSTORE_NO_DEVICE', 'unknown device')
    db.transaction(() => {
      db.prepare('DELETE FROM acks WHERE trigger_id IN (SELECT trigger_id FROM triggers WHERE device_id = ?)').run(req.params.id)
      db.prepare('DELETE FROM triggers WHERE device_id = ?').run(req.params.id)
      db.prepare('DELETE FROM events WHERE subject = ?').run(dev.ble_id)
      db.prepare('DELETE FROM tokens WHERE device_id = ?').run(req.params.id)
      db.prepare('DELETE FROM devices WHERE device_id = ?').run(req.params.id)
      // Gateways erase their copy on their next config pull.
      db.prepare('INSERT OR REPLACE INTO erasures (subject, ts) VALUES (?, ?)').run(dev.ble_id, Date.now())
    })()
    hub.disconnect(req.params.id)
    return reply.code(204).send()
  })

  app.get<{ Params: { id: string }, Querystring: { lastEventId?: string } }>('/v1/devices/:id/triggers', {
    schema: { tags: ['app'], params: IdParams },
    preHandler: requireRole(db, 'device', 'admin')
  }, async (req, reply) => {
    ownDevice(req, req.params.id)
    const last = Number(req.headers['last-event-id'] ?? req.query.lastEventId ?? 0)
    let unsubscribe = () => {}
    const stream = openEventStream(req, reply, () => unsubscribe())
    unsubscribe = hub.subscribe(req.params.id, Number.isFinite(last) ? last : 0, (seq, t) => stream.send('trigger', JSON.stringify(t), seq))
  })

  app.post<{ Params: { id: string }, Body: AckBodyT }>('/v1/triggers/:id/ack', {
    schema: { tags: ['app'], params: IdParams, body: AckBody },
    preHandler: requireRole(db, 'device', 'admin')
  }, async (req) => {
    const t = db.prepare('SELECT device_id FROM triggers WHERE trigger_id = ?').get(req.params.id) as { device_id: string } | undefined
    if (!t) throw new HttpError(404, 'INSTORE_NO_TRIGGER', 'unknown trigger')
    ownDevice(req, t.device_id)
    db.prepare('INSERT OR IGNORE INTO acks (trigger_id, status, ts) VALUES (?, ?, ?)').run(req.params.id, req.body.status, Date.now())
    return { triggerId: req.params.id, status: req.body.status }
  })
}
