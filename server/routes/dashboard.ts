// The live dashboard and the demo phone page, served by the central server. Gateways post a
// live snapshot (positions, occupancy, footfall) every second; dashboards follow a store over SSE,
// read with fetch and an Authorization header: a token never goes in a URL, where proxies' access
// logs keep it. Accepted events are relayed too. Live streams are capped per token and per store.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { transformSync } from 'esbuild'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Context } from '../context.ts'
import { requireRole, HttpError, mustReachStore } from '../auth.ts'
import { Type } from '@sinclair/typebox'
import { StoreParams, LiveSnapshot, ErrorReply, type LiveSnapshotT } from '../schemas.ts'
import { openEventStream } from '../hubs/sse.ts'
import { ERASED, FORGOTTEN, type LiveHub } from '../hubs/live-hub.ts'
import { LiveCapacity } from './live-capacity.ts'
import { LiveGate } from './live-gate.ts'
import { ListQuery, type ListQueryT, listStores } from './listing.ts'

const file = (p: string) => fileURLToPath(new URL(p, import.meta.url))

export { LiveHub } from '../hubs/live-hub.ts'

export async function dashboardRoutes(app: FastifyInstance, ctx: Context & { live: LiveHub }): Promise<void> {
  const { db, live } = ctx
  live.start()
  const capacity = new LiveCapacity(db)
  const gate = new LiveGate(Date.now, ctx.policy.liveMinIntervalMs)
  /** Each live post's turn of its store, taken at onRequest: given back once, whichever comes first, its end or its connection's. */
  const turns = new WeakMap<FastifyRequest, () => void>()
  const busy = (storeId: string) => {
    ctx.metrics.liveRefused.INSTORE_LIVE_BUSY = (ctx.metrics.liveRefused.INSTORE_LIVE_BUSY ?? 0) + 1
    return new HttpError(429, 'INSTORE_LIVE_BUSY', `a snapshot of store ${storeId} is in flight or was just taken: send the next one later`, { 'retry-after': '1' })
  }
  const page = (name: string) => async (_req: unknown, reply: FastifyReply) => reply.type('text/html; charset=utf-8').send(readFileSync(file(`../public/${name}.html`)))
  app.get('/', { schema: { hide: true } }, page('dashboard'))
  app.get('/phone', { schema: { hide: true } }, page('phone'))
  // The pages' scripts and styles are files, not inline: the Content-Security-Policy admits only 'self'.
  const script = (name: string) => async (_req: unknown, reply: FastifyReply) => reply.type('text/javascript; charset=utf-8').send(readFileSync(file(`../public/${name}.js`)))
  app.get('/dashboard.js', { schema: { hide: true } }, script('dashboard'))
  app.get('/phone.js', { schema: { hide: true } }, script('phone'))
  const style = (name: string) => async (_req: unknown, reply: FastifyReply) => reply.type('text/css; charset=utf-8').send(readFileSync(file(`../public/${name}.css`)))
  app.get('/dashboard.css', { schema: { hide: true } }, style('dashboard'))
  app.get('/phone.css', { schema: { hide: true } }, style('phone'))
  // The app SDK for browsers, transpiled once from its TypeScript source.
  const sdk = transformSync(readFileSync(file('../../sdk/client.ts'), 'utf8'), { loader: 'ts', format: 'esm' }).code
  app.get('/sdk.js', { schema: { hide: true } }, async (_req, reply) => reply.type('text/javascript').send(sdk))

  app.get<{ Querystring: ListQueryT }>('/v1/stores', { schema: { tags: ['operator'], querystring: ListQuery }, preHandler: requireRole(db, 'admin', 'manager') }, (req, reply) =>
    listStores(db, req, reply)
  )

  app.get<{ Params: { storeId: string } }>(
    '/v1/stores/:storeId/site',
    { schema: { tags: ['operator'], params: StoreParams }, preHandler: requireRole(db, 'admin', 'manager') },
    async req => {
      mustReachStore(req.principal, req.params.storeId, 'no rights on this store')
      const r = await db.selectFrom('stores').select('site').where('id', '=', req.params.storeId).executeTakeFirst()
      if (!r) throw new HttpError(404, 'INSTORE_NO_STORE', 'unknown store')
      return JSON.parse(r.site) as unknown
    }
  )

  app.post<{ Params: { storeId: string }; Body: LiveSnapshotT }>(
    '/v1/stores/:storeId/live',
    {
      schema: { tags: ['gateway'], params: StoreParams, body: LiveSnapshot, response: { 204: Type.Null(), 400: ErrorReply, 429: ErrorReply } },
      attachValidation: true,
      // The store's turn is taken before the body is read (the token is checked first: requireRole
      // runs at onRequest, openapi.ts): of posts sent together, all but one are refused unread
      // (re-tester, s11: six 2.7 MiB snapshots were all parsed before five were refused).
      onRequest: async (req, reply) => {
        const { storeId } = req.params as { storeId: string }
        mustReachStore(req.principal, storeId, 'not this store')
        const take = gate.take(storeId)
        if (take === null) throw busy(storeId)
        let held = true
        const release = () => {
          if (!held) return
          held = false
          take()
        }
        turns.set(req, release)
        // A post that never reaches the handler (its body too large, cut off) gives its turn back too.
        reply.raw.once('close', release)
      },
      preHandler: requireRole(db, 'gateway', 'admin')
    },
    async (req, reply) => {
      try {
        await takeSnapshot(req)
      } finally {
        turns.get(req)?.()
      }
      return reply.code(204).send()
    }
  )

  const takeSnapshot = async (req: FastifyRequest<{ Params: { storeId: string }; Body: LiveSnapshotT }>): Promise<void> => {
    if (req.validationError) {
      ctx.metrics.liveRefused.INSTORE_BAD_SNAPSHOT = (ctx.metrics.liveRefused.INSTORE_BAD_SNAPSHOT ?? 0) + 1
      throw new HttpError(400, 'INSTORE_BAD_SNAPSHOT', req.validationError.message)
    }
    const implausible = await capacity.check(req.body, req.params.storeId, n => {
      if (n > 0) ctx.metrics.liveRefused.INSTORE_UNKNOWN_ZONE = (ctx.metrics.liveRefused.INSTORE_UNKNOWN_ZONE ?? 0) + n
    })
    if (implausible !== null) {
      ctx.metrics.liveRefused.INSTORE_IMPLAUSIBLE_OCCUPANCY = (ctx.metrics.liveRefused.INSTORE_IMPLAUSIBLE_OCCUPANCY ?? 0) + 1
      throw new HttpError(400, 'INSTORE_IMPLAUSIBLE_OCCUPANCY', implausible)
    }
    // Presence consent and erasure apply to positions as to events: a gateway that is outdated or
    // hostile cannot show (nor leave as the last snapshot) a shopper who withdrew or was erased.
    // Read in the transaction that stores the snapshot, the devices' rows held on PostgreSQL as a
    // batch holds them (lockNamed): an erasure on another replica cannot fall between the read and
    // the store (publishVetted).
    const subjects = req.body.positions.map(p => p.subject)
    let dropped = 0
    // Stored and announced to the other replicas, not waited for by them: each one reads it when notified.
    await live.publishVetted(req.params.storeId, async q => {
      const allowed = ctx.data.engine === 'postgres' ? await ctx.consent.lockNamed(subjects, q, false) : await ctx.consent.permitted(subjects, q)
      const positions = req.body.positions.filter(p => allowed.has(p.subject))
      dropped = req.body.positions.length - positions.length
      return { ...req.body, positions }
    })
    if (dropped > 0) ctx.metrics.liveRefused.INSTORE_NO_PRESENCE_CONSENT = (ctx.metrics.liveRefused.INSTORE_NO_PRESENCE_CONSENT ?? 0) + dropped
  }

  app.get<{ Params: { storeId: string } }>(
    '/v1/stores/:storeId/live',
    { schema: { tags: ['operator'], params: StoreParams, response: { 404: ErrorReply, 429: ErrorReply } }, preHandler: requireRole(db, 'admin', 'manager') },
    async (req, reply) => {
      const storeId = req.params.storeId
      mustReachStore(req.principal, storeId, 'no rights on this store')
      if (!(await db.selectFrom('stores').select('id').where('id', '=', storeId).executeTakeFirst())) throw new HttpError(404, 'INSTORE_NO_STORE', 'unknown store')
      // A few per token and a bounded number per store, across replicas: a script holding thousands
      // open would cost every snapshot a write to each, and the server its memory.
      const slot = await ctx.hub.slots.reserve('live', storeId, req.principal?.tokenId)
      if (slot === 'live_store') throw new HttpError(429, 'INSTORE_TOO_MANY_LIVE_STREAMS', 'this store has as many live streams open as allowed; close one first')
      if (typeof slot === 'string') throw new HttpError(429, 'INSTORE_TOO_MANY_LIVE_STREAMS', 'this token has as many live streams open as allowed; close one first')
      let off = () => {}
      let closed = false
      // A dashboard behind is sent the latest snapshot, not every one it missed.
      const stream = openEventStream(
        req,
        reply,
        () => {
          closed = true
          slot.release()
          off()
        },
        ['snapshot']
      )
      // Its lease found gone at a renewal (its replica stalled past the lease time): no replica
      // counts it any more, so it ends, and the dashboard's reconnection is counted again.
      slot.onReplaced?.(() => stream.close())
      // The latest snapshot at once, whichever replica took it; then every new one.
      try {
        const stop = await live.follow(storeId, (event, data) => {
          if (closed) return
          if (event === ERASED) stream.discard('snapshot')
          else if (event === FORGOTTEN) {
            // Relayed events name their subject as `"subject":"…"` (JSON.stringify of the event).
            const named = `"subject":${JSON.stringify(data)}`
            stream.discardWhere(text => text.includes(named))
          } else stream.send(event, data)
        })
        if (closed) stop()
        else off = stop
      } catch (err) {
        ctx.log.warn('live stream could not read the latest snapshot', { err: err instanceof Error ? err.message : String(err) })
        stream.close()
      }
    }
  )
}
