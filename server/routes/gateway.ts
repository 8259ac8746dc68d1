// Gateway-facing routes: event uplink (idempotent on id; every event validated, every trigger
// vetted against the server's campaigns) and config pull (ETag). Plus the admin
// routes that provision a store (its site and gateway token) and operator tokens.
import { Readable } from 'node:stream'
import type { FastifyInstance, FastifySchemaValidationError } from 'fastify'
import { Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { Context } from '../context.ts'
import { requireRole, issue, HttpError, mustReachStore } from '../auth.ts'
import { revokeGatewayTokens } from './tokens.ts'
import {
  MAX_EVENTS,
  StoreParams,
  ConfigQuery,
  type ConfigQueryT,
  EventsBody,
  EventsReply,
  EventsRefusedReply,
  StoreBody,
  OperatorBody,
  ErrorReply,
  type EventsBodyT,
  type OperatorBodyT
} from '../schemas.ts'
import { siteProblems } from '../../shared/site.ts'
import { validationMessage } from '../validation-message.ts'
import { EventSchema, SAFE_ID, type InstoreEvent } from '../../shared/events.ts'
import { storeFacts, type RecordOutcome, type StoreFacts } from '../hubs/push.ts'
import { vetTrigger } from '../hubs/vet.ts'
import { closesOpen } from '../hubs/closing.ts'
import { deviceIdForm } from '../../shared/eid.ts'
import { storeEvents, Counts } from '../db/rollups.ts'
import { isBusy, retryConflicts, TryAgain } from '../db/retry.ts'
import { BatchVisits } from '../hubs/visits.ts'
import { StoreGate } from './store-gate.ts'
import type { Campaign } from '../../shared/campaigns.ts'

/** An event refused, by its place in the posted batch (its id only when it is a well-formed one). */
type Refusal = { index: number; id: string | null; error: string; message: string }
/** A well-formed event and its place in the posted batch. */
type Posted = { index: number; e: InstoreEvent }

const eventCheck = TypeCompiler.Compile(EventSchema)

/** Splits a batch that failed the route's schema into valid events and refusals; null when the envelope itself is bad. */
function checkEach(body: unknown): { valid: Posted[]; refused: Refusal[] } | null {
  const list = typeof body === 'object' && body !== null && Object.keys(body).length === 1 ? (body as { events?: unknown }).events : undefined
  if (!Array.isArray(list) || list.length > MAX_EVENTS) return null
  const valid: Posted[] = []
  const refused: Refusal[] = []
  list.forEach((e: unknown, index) => {
    if (eventCheck.Check(e)) {
      valid.push({ index, e })
      return
    }
    const first = eventCheck.Errors(e).First()
    const id = (e as { id?: unknown } | null)?.id
    refused.push({
      index,
      id: typeof id === 'string' && SAFE.test(id) && id.length <= 64 ? id : null,
      error: 'INSTORE_BAD_EVENT',
      message: `events/${index}${first?.path ?? ''}: ${first?.message ?? 'invalid'}`.slice(0, 300)
    })
  })
  return { valid, refused }
}
const SAFE = new RegExp(SAFE_ID)

/** Counts an event (or a whole post) refused, by its error code. */
function refuse(metrics: Context['metrics'], code: string): void {
  metrics.eventsRefused[code] = (metrics.eventsRefused[code] ?? 0) + 1
}
import { ConfigReplies, type StreamCut, streamed } from '../config-reply.ts'
import { cutConfigWhenStalled } from '../reply-stall.ts'
import { sql } from 'kysely'

/** How far ahead of the server's clock an event may be: clocks drift, but an event is not from the future. */
export const MAX_EVENT_AHEAD_MS = 5 * 60_000
const TRIGGER_ONLY = ['campaignId', 'content', 'reason'] as const
/**
 * Most trigger.fired events one batch may carry: each is vetted and recorded with a few key reads,
 * inside the batch's transaction, which on SQLite holds the only connection (every other request
 * waits for it). Beyond it the batch is answered 413 INSTORE_TOO_MANY_TRIGGERS without a list of
 * refusals, and a gateway's outbox splits it in halves until each half passes.
 */
export const MAX_TRIGGERS_PER_BATCH = 100
/** PostgreSQL: the longest wait for a lock (another batch of the store, a device's row), ms. */
export const BATCH_LOCK_WAIT_MS = 2_000
/** PostgreSQL: the longest one statement of a batch may run, ms. */
export const BATCH_STATEMENT_MS = 5_000
/** What a 503 INSTORE_BUSY asks the gateway to wait before sending the batch again, s. */
const BUSY_RETRY_AFTER_S = 2
/** The longest a batch waits, holding no connection, for the batch of its store in flight on this replica, ms (store-gate.ts). */
export const STORE_TURN_WAIT_MS = 2_000
/** The most batches of one store waiting for their turn on one replica; one more is answered 503 at once. */
export const STORE_TURN_MAX_WAITING = 8

/** Why a well-formed event may still not be stored (time, places, fields), or null when it may. */
function eventProblem(e: InstoreEvent, facts: StoreFacts, now: number, maxAgeMs: number): { code: string; message: string } | null {
  if (e.ts > now + MAX_EVENT_AHEAD_MS)
    return { code: 'INSTORE_TS_FUTURE', message: `event ${e.id}: its time is more than ${MAX_EVENT_AHEAD_MS / 60_000} min ahead of the server's` }
  if (now - e.ts > maxAgeMs) return { code: 'INSTORE_TS_TOO_OLD', message: `event ${e.id}: older than ${Math.round(maxAgeMs / 86_400_000)} days` }
  const unknown =
    e.shop !== undefined && !facts.shops.has(e.shop)
      ? e.shop
      : e.sector !== undefined && !facts.sectors.has(e.sector)
        ? e.sector
        : e.sectors?.find(s => !facts.sectors.has(s.id))?.id
  if (unknown !== undefined) return { code: 'INSTORE_UNKNOWN_ZONE', message: `event ${e.id}: ${unknown} is not a shop or sector of store ${e.storeId}` }
  const extra = e.type === 'trigger.fired' ? undefined : TRIGGER_ONLY.find(k => e[k] !== undefined)
  if (extra !== undefined) return { code: 'INSTORE_FIELD_NOT_ALLOWED', message: `event ${e.id}: only trigger.fired carries ${extra}` }
  return null
}

export async function gatewayRoutes(app: FastifyInstance, { db, data, hub, metrics, live, policy, consent, log }: Context): Promise<void> {
  const gate = new StoreGate(STORE_TURN_WAIT_MS, STORE_TURN_MAX_WAITING)
  const configs = new ConfigReplies(db, policy.erasureWindowMs, Date.now, () => metrics.configBuilds++)
  const busy = (message: string) => {
    refuse(metrics, 'INSTORE_BUSY')
    return new HttpError(503, 'INSTORE_BUSY', message, { 'retry-after': String(BUSY_RETRY_AFTER_S) })
  }
  const siteOf = async (storeId: string) => (await db.selectFrom('stores').select('site').where('id', '=', storeId).executeTakeFirst())?.site

  app.post<{ Params: { storeId: string }; Body: EventsBodyT }>(
    '/v1/stores/:storeId/events',
    {
      schema: {
        tags: ['gateway'],
        params: StoreParams,
        body: EventsBody,
        response: {
          200: EventsReply,
          400: Type.Union([EventsRefusedReply, ErrorReply]),
          403: ErrorReply,
          404: ErrorReply,
          413: ErrorReply,
          422: EventsRefusedReply,
          503: ErrorReply
        }
      },
      // Validation errors are raised in the handler, after the token check: an anonymous caller
      // learns nothing about the schema, and a gateway's bad event is counted.
      attachValidation: true,
      // A store with as many batches waiting as the gate holds: refused before its body is read
      // and parsed, which a flood of large batches would otherwise spend this replica's CPU on.
      // (It tells an anonymous caller no more than that the store is busy.)
      onRequest: async req => {
        const { storeId } = req.params as { storeId: string }
        if (gate.full(storeId)) throw busy(`too many batches of store ${storeId} wait already: send this one again later`)
      },
      preHandler: requireRole(db, 'gateway', 'admin')
    },
    async (req, reply) => {
      const { storeId } = req.params
      mustReachStore(req.principal, storeId, `this token cannot post for store ${storeId}`)
      const refused: Refusal[] = []
      let events: Posted[]
      if (!req.validationError) events = req.body.events.map((e, index) => ({ index, e }))
      else {
        // One bad event must not cost the batch: a gateway re-sends a refused batch for ever, so a
        // single hostile advert (a BLE name is chosen over the air) would stop a whole store's uplink.
        const split = checkEach(req.body)
        if (!split) {
          refuse(metrics, 'INSTORE_BAD_EVENT')
          throw new HttpError(400, 'INSTORE_BAD_EVENT', req.validationError.message)
        }
        events = split.valid
        for (const r of split.refused) {
          refused.push(r)
          refuse(metrics, r.error)
        }
      }
      const wrong = events.find(({ e }) => e.storeId !== storeId)?.e
      if (wrong) {
        refuse(metrics, 'INSTORE_STORE_MISMATCH')
        throw new HttpError(400, 'INSTORE_STORE_MISMATCH', `event ${wrong.id} is for store ${wrong.storeId}, not ${storeId}`)
      }
      const triggers = events.filter(p => p.e.type === 'trigger.fired').length
      if (triggers > MAX_TRIGGERS_PER_BATCH) {
        refuse(metrics, 'INSTORE_TOO_MANY_TRIGGERS')
        throw new HttpError(413, 'INSTORE_TOO_MANY_TRIGGERS', `${triggers} trigger.fired events in one batch: at most ${MAX_TRIGGERS_PER_BATCH}; send them in smaller batches`)
      }
      const site = await siteOf(storeId)
      if (site === undefined) throw new HttpError(404, 'INSTORE_NO_STORE', `unknown store ${storeId}`)
      const facts = storeFacts(site)
      const attempt = () =>
        db.transaction().execute(async trx => {
          const now = Date.now()
          const out: Refusal[] = []
          const fresh: InstoreEvent[] = []
          // Duplicates are per store: one store's gateway can neither drop nor probe another store's ids.
          const ids = [...new Set(events.map(p => p.e.id))]
          // PostgreSQL keys events by (store, id, time) (db/partitions.ts): two replicas storing one id at
          // once, with two times, would both pass the check below; a lock per store and id, in one order,
          // makes the second see the first's row. Before those, one lock per store: two batches of one store
          // (a re-send while the first try runs) would take its open visits' rows in their own orders and
          // deadlock. Waits are bounded: past them the batch is answered 503 and sent again later.
          if (data.engine === 'postgres') {
            await sql`SELECT set_config('lock_timeout', ${`${BATCH_LOCK_WAIT_MS}ms`}, true), set_config('statement_timeout', ${`${BATCH_STATEMENT_MS}ms`}, true)`.execute(trx)
            await sql`SELECT pg_advisory_xact_lock(hashtextextended(${'store:' + storeId}, 0))`.execute(trx)
          }
          if (data.engine === 'postgres' && ids.length > 0)
            await sql`SELECT pg_advisory_xact_lock(hashtextextended(${storeId} || ':' || k, 0)) FROM (SELECT unnest(${[...ids].sort()}::text[]) AS k) s`.execute(trx)
          // Stored, or stored and since dropped by retention (their ids are kept while they may come again).
          const known = new Set(
            ids.length === 0
              ? []
              : (
                  await trx
                    .selectFrom('events')
                    .select('id')
                    .where('store_id', '=', storeId)
                    .where('id', 'in', ids)
                    .union(trx.selectFrom('dropped_event_ids').select('id').where('store_id', '=', storeId).where('id', 'in', ids))
                    .execute()
                ).map(r => r.id)
          )
          // Every rollup of the transaction is written once, in key order, at its end.
          const counts = new Counts()
          // What this try would count: counted only once it has committed (a retried try starts afresh).
          const outcomes: RecordOutcome[] = []
          const named = events.filter(p => !known.has(p.e.id)).map(p => p.e.subject)
          const mayKeep = await consent.permitted(named, trx)
          const seen = new BatchVisits(events.map(p => p.e))
          const vetted: Array<{ e: InstoreEvent; campaign: Campaign }> = []
          for (const { index, e: posted } of events) {
            // A re-sent event stays a duplicate even if its campaign has gone since.
            if (known.has(posted.id)) continue
            // Presence consent, again here: events about a shopper without it are refused, never stored.
            if (!mayKeep.has(posted.subject)) {
              const why = deviceIdForm(posted.subject) !== undefined ? 'is a device id (events name a device by its app: subject)' : 'has no presence consent'
              out.push({ index, id: posted.id, error: 'INSTORE_NO_PRESENCE_CONSENT', message: `events/${index}: ${posted.subject} ${why}` })
              continue
            }
            const problem = eventProblem(posted, facts, now, policy.maxEventAgeMs)
            if (problem && !(problem.code === 'INSTORE_UNKNOWN_ZONE' && (await closesOpen(trx, storeId, posted)))) {
              out.push({ index, id: posted.id, error: problem.code, message: problem.message })
              continue
            }
            known.add(posted.id)
            if (posted.type === 'trigger.fired') {
              const v = await vetTrigger(trx, posted, storeId, facts, now, seen)
              if (!v.ok) out.push({ index, id: posted.id, error: v.code, message: v.message })
              // What is stored, shown and pushed is the server's copy of the content, never the gateway's.
              else vetted.push({ e: { ...posted, content: v.campaign.content }, campaign: v.campaign })
              continue
            }
            seen.accept(posted)
            fresh.push(posted)
          }
          const row = (e: InstoreEvent) => ({ id: e.id, store_id: storeId, type: e.type, subject: e.subject, ts: e.ts, body: JSON.stringify(e), received: now })
          const stored = await storeEvents(trx, fresh.map(row), counts)
          await counts.write(trx)
          // Only now, everything vetted and stored, are the named devices' rows locked, until the
          // commit: an erasure or a consent change does not wait for a batch's vetting. Both take
          // the device row first and the visit rows after, the batch the other way round: where
          // they meet on one shopper's open visit, PostgreSQL aborts one of them as a deadlock,
          // which is tried again (retryConflicts), a second later.
          if (data.engine === 'postgres') {
            const still = await consent.lockNamed(named, trx, vetted.length > 0)
            if (named.some(s => mayKeep.has(s) && !still.has(s))) throw new TryAgain('presence consent changed during the batch')
          }
          const pushed: InstoreEvent[] = []
          const fired = new Counts() // written only by this store's batches, one at a time: no wait with the devices locked
          for (const { e, campaign } of vetted) {
            // The push is recorded with its event, in one commit: a replica killed after it loses
            // nothing the gateway was told was stored, and a phone never sees a trigger the server then forgot.
            const outcome = await hub.record(trx, e, campaign, facts)
            // Held back (a cap the gateway cannot know): stored with why, neither counted as fired nor shown (rollups.ts).
            const body = outcome === 'pushed' ? e : { ...e, dropped: outcome }
            if (!(await storeEvents(trx, [{ ...row(e), body: JSON.stringify(body) }], fired)).has(e.id)) continue
            outcomes.push(outcome)
            if (outcome === 'pushed') pushed.push(e)
          }
          await fired.write(trx)
          const kept = fresh.filter(e => stored.has(e.id))
          return { out, outcomes, named, fresh: [...kept, ...pushed], accepted: kept.length + outcomes.length }
        })
      // The store's turn first, before any connection is taken (store-gate.ts): a store's batches
      // wait for each other here, never holding a pool connection other stores need.
      const release = await gate.enter(storeId)
      if (release === null) throw busy(`another batch of store ${storeId} is still being stored: send this one again later`)
      const { out, outcomes, named, fresh, accepted } = await retryConflicts(attempt)
        .catch(err => {
          if (!isBusy(err)) throw err
          throw busy('the database is busy with other batches: send this one again later')
        })
        .finally(release)
      // Outside the batch's transaction, so that it holds no device row while the batch runs.
      consent.markReported(named, Date.now()).catch(err => log.warn('marking devices reported failed', { err: (err as Error).message }))
      for (const o of outcomes) hub.count(o)
      for (const r of out) {
        refused.push(r)
        if (r.error === 'INSTORE_NO_PRESENCE_CONSENT') consent.refuse()
        else refuse(metrics, r.error)
      }
      // The post is answered whatever happens to the live relay: the events are stored.
      live.publishEvents(storeId, fresh).then(
        tooBig => {
          if (tooBig > 0) log.warn("events too big to relay to the other replicas' live dashboards", { storeId, events: tooBig })
        },
        err => log.warn('relaying events to other replicas failed', { err: (err as Error).message })
      )
      const duplicates = events.length - accepted - refused.filter(r => r.error !== 'INSTORE_BAD_EVENT').length
      metrics.eventsAccepted += accepted
      metrics.eventsDuplicate += duplicates
      if (refused.length === 0) return { accepted, duplicates }
      // The others are stored: a gateway that re-sends the batch gets them back as duplicates.
      // 400 when an event broke the schema, 422 when events were well formed but not allowed.
      return reply
        .code(refused.some(r => r.error === 'INSTORE_BAD_EVENT') ? 400 : 422)
        .send({ error: refused[0].error, message: `${refused.length} event(s) refused: ${refused.map(r => r.message).join('; ')}`.slice(0, 2000), accepted, duplicates, refused })
    }
  )

  // Whole, or with ?since=<version> only what changed since (devices, consent, erasures, and the
  // site and campaigns when they did): gateways pull it every few seconds, cheaply.
  app.get<{ Params: { storeId: string }; Querystring: ConfigQueryT }>(
    '/v1/stores/:storeId/config',
    {
      schema: { tags: ['gateway'], params: StoreParams, querystring: ConfigQuery, response: { 400: ErrorReply, 403: ErrorReply, 404: ErrorReply, 429: ErrorReply } },
      preHandler: requireRole(db, 'gateway', 'admin')
    },
    async (req, reply) => {
      const { storeId } = req.params
      mustReachStore(req.principal, storeId, `this token cannot read store ${storeId}`)
      const site = await siteOf(storeId)
      if (site === undefined) throw new HttpError(404, 'INSTORE_NO_STORE', `unknown store ${storeId}`)
      // The token's turn lasts until this reply is sent or its connection closes: closed when its client takes nothing for replyStallMs.
      const sent = new Promise<void>(resolve => reply.raw.once('close', resolve))
      const r = await configs.pull(storeId, JSON.parse(site), req.query.since, req.headers['if-none-match'], req.principal?.tokenId ?? '', sent)
      if (r.kind === 'bad_since') throw new HttpError(400, 'INSTORE_BAD_SINCE', r.reason)
      if (r.kind === 'body' || r.kind === 'building') cutConfigWhenStalled(reply.raw, storeId, { policy, metrics, log })
      // A gateway pulls one at a time: a second pull meanwhile is a loop or a stolen token.
      if (r.kind === 'busy') throw new HttpError(429, 'INSTORE_CONFIG_BUSY', 'this token is already pulling this config: wait for that reply', { 'retry-after': '1' })
      reply.header('etag', r.etag).header('cache-control', 'no-cache')
      if (r.kind === 'not_modified') return reply.code(304).send()
      // A list being built is streamed (config-reply.ts): the gateway sees its reply progress.
      if (r.kind === 'building') {
        const onCut = (why: StreamCut, err?: unknown) => {
          metrics.configStreamsCut[why]++
          // The 200 and its ETag are out: the gateway sees only a body cut short, so the reason is told here.
          if (why === 'build_failed') log.error('config reply cut short: its device list could not be built', { storeId, err: (err as Error)?.message })
          else log.debug('config reply cut short: the gateway left', { storeId })
        }
        return reply.type('application/json').send(Readable.from(streamed(r, { onCut })))
      }
      // The device list's Buffers are shared with every other reply of its version: none is copied per reply.
      return reply.type('application/json').header('content-length', String(r.bytes)).send(Readable.from(r.parts))
    }
  )

  app.post<{ Body: { site: { storeId: string } } }>(
    '/v1/stores',
    {
      schema: { tags: ['admin'], body: StoreBody },
      // The body wraps the site file; the site file posted as the body is the usual mistake, so the 400 says what to send.
      attachValidation: true,
      preHandler: requireRole(db, 'admin')
    },
    async (req, reply) => {
      if (req.validationError) {
        const v = (req.validationError as { validation?: FastifySchemaValidationError[] }).validation ?? []
        const bare = typeof req.body === 'object' && req.body !== null && (req.body as { type?: unknown }).type === 'FeatureCollection'
        throw new HttpError(
          400,
          'INSTORE_BAD_REQUEST',
          `${bare ? 'body is a site file itself' : validationMessage('body', v, req.body)}: POST /v1/stores takes {"site": <the site file>}`
        )
      }
      const problems = siteProblems(req.body.site)
      if (problems.length > 0) throw new HttpError(400, 'INSTORE_BAD_SITE', problems.map(p => `${p.path || '/'}: ${p.reason}`).join('; '))
      const storeId = req.body.site.storeId
      // Provisioning again (a replaced or compromised gateway) revokes the store's earlier gateway tokens.
      const { issued, revoked } = await db.transaction().execute(async trx => {
        await trx
          .insertInto('stores')
          .values({ id: storeId, site: JSON.stringify(req.body.site), updated: Date.now() })
          .onConflict(oc => oc.column('id').doUpdateSet(eb => ({ site: eb.ref('excluded.site'), updated: eb.ref('excluded.updated') })))
          .execute()
        const revoked = await revokeGatewayTokens(trx, storeId)
        return { issued: await issue(trx, 'gateway', [storeId]), revoked }
      })
      return reply.code(201).send({ storeId, gatewayToken: issued.token, gatewayTokenId: issued.id, revokedTokens: revoked })
    }
  )

  app.post<{ Body: OperatorBodyT }>(
    '/v1/operators',
    {
      schema: { tags: ['admin'], body: OperatorBody },
      preHandler: requireRole(db, 'admin')
    },
    async (req, reply) => {
      const t = await issue(db, req.body.role, req.body.stores)
      return reply.code(201).send({ id: t.id, role: req.body.role, stores: req.body.stores, token: t.token })
    }
  )
}
