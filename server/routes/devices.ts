// App-facing routes: registration with consent (the server issues the identity), consent changes,
// erasure, the SSE trigger stream (resumable with Last-Event-ID) and acknowledgements.
import { randomBytes, randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Context } from '../context.ts'
import { requireRole, issueToken, HttpError } from '../auth.ts'
import { openEventStream } from '../hubs/sse.ts'
import { nextConfigVersion } from '../db/db.ts'
import { closeOpenRowsOf } from '../db/rollups.ts'
import { DEFAULT_K } from '../../shared/eid.ts'
import { IdParams, RegisterBody, RegisterReply, ConsentBody, AckBody, ErrorReply, type RegisterBodyT, type ConsentBodyT, type AckBodyT } from '../schemas.ts'

function ownDevice (req: FastifyRequest, id: string): void {
  const p = req.principal
  if (!p || (p.role !== 'admin' && p.deviceId !== id)) throw new HttpError(403, 'INSTORE_OTHER_DEVICE', 'this token belongs to another device')
}

export async function deviceRoutes (app: FastifyInstance, ctx: Context): Promise<void> {
  const { db, hub, live } = ctx
  const k = ctx.eidK ?? DEFAULT_K
  if (!Number.isInteger(k) || k < 0 || k > 15) throw new Error(`eidK must be an integer 0-15 (Eddystone-EID rotation exponent), got ${k}`)

  // Anonymous, and it names nobody: each call makes a new device with a new subject and identity
  // key, so no request can reclaim, replace or delete another device's registration.
  app.post<{ Body: RegisterBodyT }>('/v1/devices', {
    schema: { tags: ['app'], security: [], body: RegisterBody, response: { 201: RegisterReply, 400: ErrorReply } }
  }, async (req, reply) => {
    const { consent } = req.body
    const deviceId = randomUUID()
    const subject = 'app:' + randomBytes(8).toString('hex')
    const key = randomBytes(16).toString('hex')
    let token = ''
    db.transaction(() => {
      db.prepare('INSERT INTO devices (device_id, subject, identity_key, k, presence, marketing, listed, version, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(deviceId, subject, key, k, consent.presence ? 1 : 0, consent.marketing ? 1 : 0, consent.presence ? 1 : 0, nextConfigVersion(db), Date.now())
      token = issueToken(db, 'device', [], deviceId)
    })()
    return reply.code(201).send({ deviceId, token, subject, eid: { key, k } })
  })

  app.put<{ Params: { id: string }, Body: ConsentBodyT }>('/v1/devices/:id/consent', {
    schema: { tags: ['app'], params: IdParams, body: ConsentBody },
    preHandler: requireRole(db, 'device', 'admin')
  }, async (req) => {
    ownDevice(req, req.params.id)
    const { presence, marketing } = req.body
    // A new version: gateways learn of it at their next pull (a device without presence consent
    // leaves their resolution material, so its EIDs become anonymous).
    const changed = db.transaction(() => {
      const r = db.prepare('UPDATE devices SET presence = ?, marketing = ?, listed = MAX(listed, ?), version = ? WHERE device_id = ? RETURNING subject')
        .get(presence ? 1 : 0, marketing ? 1 : 0, presence ? 1 : 0, nextConfigVersion(db), req.params.id) as { subject: string } | undefined
      if (r && !presence) closeOpenRowsOf(db, r.subject)
      return r === undefined ? 0 : 1
    })()
    if (changed === 0) throw new HttpError(404, 'INSTORE_NO_DEVICE', 'unknown device')
    if (!marketing) hub.disconnect(req.params.id)
    return { deviceId: req.params.id, consent: req.body }
  })

  app.delete<{ Params: { id: string } }>('/v1/devices/:id', {
    schema: { tags: ['app'], params: IdParams },
    preHandler: requireRole(db, 'device', 'admin')
  }, async (req, reply) => {
    ownDevice(req, req.params.id)
    const dev = db.prepare('SELECT subject FROM devices WHERE device_id = ?').get(req.params.id) as { subject: string } | undefined
    if (!dev) throw new HttpError(404, 'INSTORE_NO_DEVICE', 'unknown device')
    db.transaction(() => {
      db.prepare('DELETE FROM acks WHERE trigger_id IN (SELECT trigger_id FROM triggers WHERE device_id = ?)').run(req.params.id)
      db.prepare('DELETE FROM triggers WHERE device_id = ?').run(req.params.id)
      db.prepare('DELETE FROM events WHERE subject = ?').run(dev.subject)
      db.prepare('DELETE FROM tokens WHERE device_id = ?').run(req.params.id)
      db.prepare('DELETE FROM devices WHERE device_id = ?').run(req.params.id)
      // Kept for good (subjects are never issued twice), so every gateway, even one offline for
      // months, deletes its copy when it next pulls its config.
      db.prepare('INSERT OR REPLACE INTO erasures (subject, ts, version) VALUES (?, ?, ?)').run(dev.subject, Date.now(), nextConfigVersion(db))
    })()
    // The WAL still holds the erased rows' old pages until a checkpoint: copy them back now and
    // empty it (secure_delete has zeroed what the deletions freed).
    db.pragma('wal_checkpoint(TRUNCATE)')
    hub.disconnect(req.params.id)
    // The live dashboard's last snapshot may show the device's position: drop it.
    for (const [store, text] of live.last) if (text.includes(dev.subject)) live.last.delete(store)
    return reply.code(204).send()
  })

  app.get<{ Params: { id: string }, Querystring: { lastEventId?: string } }>('/v1/devices/:id/triggers', {
    schema: { tags: ['app'], params: IdParams },
    preHandler: requireRole(db, 'device', 'admin')
  }, async (req, reply) => {
    ownDevice(req, req.params.id)
    if (!hub.mayReceive(req.params.id)) throw new HttpError(403, 'INSTORE_NO_CONSENT', 'this device has not given marketing consent')
    const last = Number(req.headers['last-event-id'] ?? req.query.lastEventId ?? 0)
    let unsubscribe = () => {}
    const stream = openEventStream(req, reply, () => unsubscribe())
    unsubscribe = hub.subscribe(req.params.id, Number.isFinite(last) ? last : 0, (seq, t) => stream.send('trigger', JSON.stringify(t), seq), () => stream.close())
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
