// App-facing routes: registration with consent (the server issues the identity), consent changes,
// erasure, the SSE trigger stream (resumable with Last-Event-ID) and acknowledgements.
import { randomBytes, randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Context } from '../context.ts'
import { requireRole, issueToken, HttpError } from '../auth.ts'
import { openEventStream } from '../hubs/sse.ts'
import { expirePendingOf } from '../hubs/withdraw.ts'
import { nextConfigVersion } from '../db/db.ts'
import { retryConflicts } from '../db/retry.ts'
import { closeOpenRowsOf, eraseEventsOf, storeAck } from '../db/rollups.ts'
import type { Q } from '../db/schema.ts'
import { DEFAULT_K } from '../../shared/eid.ts'
import { IdParams, TriggersQuery, RegisterBody, RegisterReply, ConsentBody, AckBody, ErrorReply, type RegisterBodyT, type ConsentBodyT, type AckBodyT } from '../schemas.ts'
import { callerKey } from '../caller-address.ts'
import { mayBeHeldByGateways } from '../gateway-exposure.ts'
import type { DeviceLimiter } from '../device-limits.ts'

/**
 * The subjects a server from before the consent gate may have stored a device id under: the id as
 * its phone spelt it (a gateway from before kept it as sent). Phones spell a uuid in one case, with or
 * without dashes (iOS upper case, Android lower): those four forms, looked up by the subject index.
 * Not a scan of every subject for mixed cases: anyone may register and erase, and each erasure would
 * then read the whole events table.
 */
async function deviceIdSpellings(q: Q, id: string): Promise<string[]> {
  const dashed = id.toLowerCase()
  const bare = dashed.replaceAll('-', '')
  const forms = [...new Set([id, dashed, dashed.toUpperCase(), bare, bare.toUpperCase()])]
  const found = new Set([id])
  for (const t of ['events', 'visits'] as const) for (const r of await q.selectFrom(t).select('subject').distinct().where('subject', 'in', forms).execute()) found.add(r.subject)
  return [...found]
}

function ownDevice(req: FastifyRequest, id: string): void {
  const p = req.principal
  if (!p || (p.role !== 'admin' && p.deviceId !== id)) throw new HttpError(403, 'INSTORE_OTHER_DEVICE', 'this token belongs to another device')
}

export async function deviceRoutes(app: FastifyInstance, ctx: Context, limiter: DeviceLimiter): Promise<void> {
  const { db, data, hub, live } = ctx
  const k = ctx.eidK ?? DEFAULT_K
  if (!Number.isInteger(k) || k < 0 || k > 15) throw new Error(`eidK must be an integer 0-15 (Eddystone-EID rotation exponent), got ${k}`)

  // Anonymous, and it names nobody: each call makes a new device with a new subject and identity
  // key, so no request can reclaim, replace or delete another device's registration.
  app.post<{ Body: RegisterBodyT }>(
    '/v1/devices',
    {
      schema: { tags: ['app'], security: [], body: RegisterBody, response: { 201: RegisterReply, 400: ErrorReply } }
    },
    async (req, reply) => {
      const { consent } = req.body
      const deviceId = randomUUID()
      const subject = 'app:' + randomBytes(8).toString('hex')
      const key = randomBytes(16).toString('hex')
      const token = await db.transaction().execute(async trx => {
        const p = consent.presence ? 1 : 0
        await trx
          .insertInto('devices')
          .values({
            device_id: deviceId,
            subject,
            identity_key: key,
            k,
            presence: p,
            marketing: consent.marketing ? 1 : 0,
            listed: p,
            version: await nextConfigVersion(trx),
            created: Date.now()
          })
          .execute()
        return await issueToken(trx, 'device', [], deviceId)
      })
      return reply.code(201).send({ deviceId, token, subject, eid: { key, k } })
    }
  )

  app.put<{ Params: { id: string }; Body: ConsentBodyT }>(
    '/v1/devices/:id/consent',
    {
      schema: { tags: ['app'], params: IdParams, body: ConsentBody },
      preHandler: requireRole(db, 'device', 'admin')
    },
    async req => {
      ownDevice(req, req.params.id)
      const { presence, marketing } = req.body
      const asked = { presence: presence ? 1 : 0, marketing: marketing ? 1 : 0 }
      // Counted once the body says what the write does (device-limits.ts): a grant against every
      // budget, before its transaction (concurrent ones all count); a restatement per token; a
      // withdrawal never, so nobody else's writes can hold a shopper's consent in place.
      const grants = (c: { presence: number; marketing: number }) => asked.presence > c.presence || asked.marketing > c.marketing
      const device = req.principal?.role === 'device'
      let counted = !device
      const same = (c: { presence: number; marketing: number }) => c.presence === asked.presence && c.marketing === asked.marketing
      const count = async (c: { presence: number; marketing: number } | undefined) => {
        if (counted || c === undefined) return
        if (grants(c)) {
          counted = true
          await limiter.grant(req)
        } else if (same(c)) {
          counted = true
          await limiter.restated(req)
        }
      }
      const before = await db.selectFrom('devices').select(['presence', 'marketing']).where('device_id', '=', req.params.id).executeTakeFirst()
      await count(before)
      // The same consent again: answered from that read (no row lock, no version, no disconnect
      // broadcast): true when read, as every answer is once sent.
      if (before !== undefined && same(before)) return { deviceId: req.params.id, consent: req.body }
      // A new version: gateways learn of it at their next pull (a device without presence consent
      // leaves their resolution material, so its EIDs become anonymous).
      let subject: string | null = null
      const run = () =>
        retryConflicts(() =>
          db.transaction().execute(async trx => {
            // The device's row before the version counter, as an erasure takes them: one order on every path.
            if (data.engine === 'postgres') await trx.selectFrom('devices').select('device_id').where('device_id', '=', req.params.id).forUpdate().execute()
            // Consent is the shopper's to give: an admin (acting on a shopper's request) may withdraw
            // it, never switch on what the device's own app has not.
            const now = await trx.selectFrom('devices').select(['presence', 'marketing']).where('device_id', '=', req.params.id).executeTakeFirst()
            if (now === undefined) return null
            if (req.principal?.role === 'admin' && grants(now))
              throw new HttpError(403, 'INSTORE_CONSENT_BY_SHOPPER', "only the device's own token can grant consent; an admin may only withdraw it")
            // Read as a withdrawal, a grant now (another write changed the row meanwhile): counted first.
            if (!counted && grants(now)) return 'uncounted' as const
            // The same consent again changes nothing: no new config version, which every gateway's delta
            // would carry. Read as a change (a concurrent write made it meanwhile): counted as a restatement
            // below, so N withdrawals sent at once cost one each against the token (re-tester, s12).
            if (same(now)) return 'same' as const
            const version = await nextConfigVersion(trx)
            // listed stays 1 once a gateway may have been given the device (presence ever granted).
            const r = await trx
              .updateTable('devices')
              .set({ ...asked, version, ...(presence ? { listed: 1 } : {}) })
              .where('device_id', '=', req.params.id)
              .returning('subject')
              .executeTakeFirst()
            if (r && !presence) await closeOpenRowsOf(trx, r.subject)
            subject = r?.subject ?? null
            if (r === undefined) return null
            // Marketing withdrawn: what was queued for the phone is dropped, as a withdrawn campaign's
            // is (expired, the rows kept for the caps), so granting consent again later never
            // delivers a trigger chosen while the shopper had said no more.
            return marketing ? 0 : await expirePendingOf(trx, req.params.id, Date.now())
          })
        )
      let changed = await run()
      if (changed === 'uncounted') {
        await count({ presence: 0, marketing: 0 })
        changed = await run()
      }
      if (changed === 'uncounted') throw new Error('consent grant left uncounted')
      if (changed === null) throw new HttpError(404, 'INSTORE_NO_DEVICE', 'unknown device')
      if (changed === 'same') {
        await count(asked)
        return { deviceId: req.params.id, consent: req.body }
      }
      hub.dropped.consent_withdrawn += changed
      if (!marketing) await hub.disconnect(req.params.id)
      // Presence withdrawn: the live dashboard's last snapshot may still show the device: drop it.
      if (!presence && subject !== null) await live.forget(subject)
      return { deviceId: req.params.id, consent: req.body }
    }
  )

  app.delete<{ Params: { id: string } }>(
    '/v1/devices/:id',
    {
      schema: { tags: ['app'], params: IdParams },
      // Never counted against the write budgets, which others behind the same address spend: an
      // erasure ends the token that asked for it, so each device's costs its work once.
      preHandler: requireRole(db, 'device', 'admin')
    },
    async (req, reply) => {
      ownDevice(req, req.params.id)
      const dev = await db.selectFrom('devices').select('subject').where('device_id', '=', req.params.id).executeTakeFirst()
      if (!dev) throw new HttpError(404, 'INSTORE_NO_DEVICE', 'unknown device')
      const erased = await retryConflicts(() =>
        db.transaction().execute(async trx => {
          const id = req.params.id
          // The device's row first (PostgreSQL): a batch storing events about it locks it at its end
          // (identity.ts lockNamed) and re-reads consent there: one that committed first left its
          // rows to delete below, one after this finds the device gone and refuses its events.
          const row = trx.selectFrom('devices').select('device_id').where('device_id', '=', id)
          // Gone meanwhile: an erasure sent at the same time (its token was still valid) did the work,
          // its record and its config version included; this one adds neither (re-tester, s12).
          if ((await (data.engine === 'postgres' ? row.forUpdate() : row).executeTakeFirst()) === undefined) return false
          const tell = await mayBeHeldByGateways(trx, id, dev.subject)
          await trx
            .deleteFrom('acks')
            .where('trigger_id', 'in', trx.selectFrom('triggers').select('trigger_id').where('device_id', '=', id))
            .execute()
          await trx.deleteFrom('triggers').where('device_id', '=', id).execute()
          await eraseEventsOf(trx, dev.subject)
          // And what a server from before the consent gate refused device ids stored under the device's id, in any spelling.
          for (const s of await deviceIdSpellings(trx, id)) await eraseEventsOf(trx, s)
          await trx.deleteFrom('tokens').where('device_id', '=', id).execute()
          await trx.deleteFrom('devices').where('device_id', '=', id).execute()
          // Kept for good (subjects are never issued twice), so every gateway, even one offline for
          // months, deletes its copy when it next pulls its config; not made for a subject no
          // gateway can hold (gateway-exposure.ts): that would only grow every gateway's config.
          if (!tell) return true
          const erasure = { subject: dev.subject, ts: Date.now(), version: await nextConfigVersion(trx) }
          await trx
            .insertInto('erasures')
            .values(erasure)
            .onConflict(oc => oc.column('subject').doUpdateSet({ ts: erasure.ts, version: erasure.version }))
            .execute()
          return true
        })
      )
      if (!erased) throw new HttpError(404, 'INSTORE_NO_DEVICE', 'unknown device')
      // SQLite: the WAL still holds the erased rows' old pages until a checkpoint: copy them back now
      // and empty it (secure_delete has zeroed what the deletions freed). PostgreSQL's dead tuples
      // go at the table's next vacuum, which its operators schedule.
      data.sqlite?.pragma('wal_checkpoint(TRUNCATE)')
      await hub.disconnect(req.params.id)
      // The live dashboard's last snapshot may show the device's position: drop it.
      await live.forget(dev.subject)
      return reply.code(204).send()
    }
  )

  app.get<{ Params: { id: string }; Querystring: { lastEventId?: string } }>(
    '/v1/devices/:id/triggers',
    {
      schema: { tags: ['app'], params: IdParams, querystring: TriggersQuery, response: { 429: ErrorReply, 503: ErrorReply } },
      // The shopper's own app only: an admin reading a device's triggers would follow the shopper
      // (store, place, time) and could hold its streams' places against its phone.
      preHandler: requireRole(db, 'device')
    },
    async (req, reply) => {
      ownDevice(req, req.params.id)
      if (!(await hub.mayReceive(req.params.id))) throw new HttpError(403, 'INSTORE_NO_CONSENT', 'this device has not given marketing consent')
      // A few streams per device and per token, across replicas: thousands held open would make every wake-up and the whole server slow.
      // And a total per replica (each stream is a socket), and a share of it per caller address (registration is anonymous).
      const slot = await hub.slots.reserve('device', req.params.id, req.principal?.tokenId, callerKey(req.ip))
      if (slot === 'replica') throw new HttpError(503, 'INSTORE_STREAMS_FULL', 'this server holds as many trigger streams as it may; retry later', { 'retry-after': '30' })
      if (slot === 'address') throw new HttpError(429, 'INSTORE_TOO_MANY_STREAMS', 'this address has as many trigger streams open as allowed; close one first')
      if (slot === 'device') throw new HttpError(429, 'INSTORE_TOO_MANY_STREAMS', 'this device has as many trigger streams open as allowed; close one first')
      if (typeof slot === 'string') throw new HttpError(429, 'INSTORE_TOO_MANY_STREAMS', 'this token has as many trigger streams open as allowed; close one first')
      // A sequence number: anything else (a fraction, a number past the database's integers, text) resumes from the start.
      const asked = String(req.headers['last-event-id'] ?? req.query.lastEventId ?? '0')
      const last = /^\d{1,15}$/.test(asked) ? Number(asked) : 0
      // Until subscribed, a phone gone away gives its place back all the same.
      let unsubscribe = () => slot.release()
      let gone = false
      const stream = openEventStream(req, reply, () => {
        gone = true
        unsubscribe()
      })
      slot.onEvict?.(() => stream.close())
      // Replaced by the device's own newer stream: its place is given back at once, and its socket
      // destroyed, not ended (a dead path would hold the unsent bytes, and the socket, for minutes).
      slot.onReplaced?.(() => {
        slot.release()
        reply.raw.destroy()
      })
      try {
        unsubscribe = await hub.subscribe(
          req.params.id,
          Number.isFinite(last) ? last : 0,
          (seq, t) => stream.send('trigger', JSON.stringify(t), seq),
          () => stream.close(),
          slot
        )
      } catch (err) {
        // The reply is the stream already: a stream that would never deliver ends, and its place
        // is given back, so the phone reconnects rather than waits on pings.
        req.log.warn({ err }, 'trigger stream could not subscribe')
        stream.close()
        return
      }
      if (gone) unsubscribe()
    }
  )

  app.post<{ Params: { id: string }; Body: AckBodyT }>(
    '/v1/triggers/:id/ack',
    {
      schema: { tags: ['app'], params: IdParams, body: AckBody },
      preHandler: requireRole(db, 'device', 'admin'),
      // Per token here; per address once the lookup says whether the trigger is the caller's (device-limits.ts).
      onRequest: limiter.ack
    },
    async req => {
      // A trigger id is its event's id, unique per store: the caller's own trigger of that id, in
      // that store's funnel. Without the store named, the id must name one trigger: the same id from
      // two stores to one device is refused rather than counted in both funnels (phones that know the
      // store send it).
      // An acknowledgement is the phone's word on what its shopper did: nobody answers for them.
      if (req.principal?.role !== 'device') throw new HttpError(403, 'INSTORE_ACK_BY_DEVICE', "only the device's own token acknowledges its triggers")
      let q = db.selectFrom('triggers').select(['trigger_id', 'device_id', 'store_id']).where('event_id', '=', req.params.id)
      if (req.body.storeId !== undefined) q = q.where('store_id', '=', req.body.storeId)
      const rows = await q.execute()
      const mine = rows.filter(r => r.device_id === req.principal?.deviceId)
      // Another device's trigger is answered as no trigger at all: a different answer would tell any
      // app whether some shopper was sent that id.
      if (mine.length === 0) {
        await limiter.ackUnknown(req)
        throw new HttpError(404, 'INSTORE_NO_TRIGGER', 'unknown trigger')
      }
      await limiter.ackFound(req)
      if (mine.length > 1) throw new HttpError(409, 'INSTORE_AMBIGUOUS_TRIGGER', `trigger ${req.params.id} came from ${mine.length} stores: name its store (storeId)`)
      await db.transaction().execute(async trx => {
        for (const t of mine) await storeAck(trx, t.trigger_id, req.body.status, Date.now(), { storeId: t.store_id, eventId: req.params.id })
      })
      return { triggerId: req.params.id, status: req.body.status }
    }
  )
}
