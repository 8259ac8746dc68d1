// The OpenAPI side of every route, applied as routes are added (app.ts's onRoute hook): the
// success responses of each operation (a route's own declaration wins), the shared error schema
// for every error status it can return, bearer security only where a token is required, and
// Server-Sent Events routes described as text/event-stream. Keeping the table here means one
// place to check against the fuzzer (test/integration/fuzz.test.ts), which requires every status it sees to
// be declared.
import type { RouteOptions } from 'fastify'
import { Type, type TSchema } from '@sinclair/typebox'
import { CampaignSchema } from '../shared/campaigns.ts'
import { ROLES, type RoleHook } from './auth.ts'
import { ErrorReply, NoContent, TokenList, StoreReply, OperatorReply, AnalyticsReply, ConsentBody, AckBody } from './schemas.ts'

type Responses = Record<number, TSchema | Record<string, unknown>>
const sse = (what: string) => ({ description: `Server-Sent Events: ${what}`, content: { 'text/event-stream': { schema: { type: 'string' } } } })
// Objects that other parts of the server extend keep additional properties open: a schema here
// must never strip a field a route adds.
const open = (props: Parameters<typeof Type.Object>[0]) => Type.Object(props, { additionalProperties: true })

const PAGED = 'one page, by id; when more follow, X-Next-Cursor and Link rel=next say where the next page starts (after=)'

/** Success (and route-specific) responses per operation, `METHOD url` as fastify spells it. */
const SUCCESS: Record<string, Responses> = {
  'GET /v1/stores/:storeId/config': { 200: open({ storeId: Type.String() }), 304: Type.Null({ description: 'Not Modified (If-None-Match matched the ETag)' }) },
  'POST /v1/stores': { 201: StoreReply },
  'POST /v1/operators': { 201: OperatorReply },
  'PUT /v1/devices/:id/consent': { 200: open({ deviceId: Type.String(), consent: ConsentBody }) },
  'DELETE /v1/devices/:id': { 204: NoContent },
  'GET /v1/devices/:id/triggers': { 200: sse('one `trigger` event per pushed trigger, id = its sequence number') },
  'POST /v1/triggers/:id/ack': { 200: open({ triggerId: Type.String(), status: AckBody.properties.status }), 409: ErrorReply },
  'GET /v1/campaigns': { 200: Type.Array(CampaignSchema, { description: PAGED }) },
  'POST /v1/campaigns': { 201: CampaignSchema, 409: ErrorReply },
  'GET /v1/campaigns/:id': { 200: CampaignSchema },
  'PUT /v1/campaigns/:id': { 200: CampaignSchema },
  'DELETE /v1/campaigns/:id': { 204: NoContent },
  'GET /v1/analytics/stores/:storeId': { 200: AnalyticsReply },
  'GET /v1/stores': { 200: Type.Array(open({ storeId: Type.String(), name: Type.String() }), { description: PAGED }) },
  'GET /v1/stores/:storeId/site': { 200: open({}) },
  'POST /v1/stores/:storeId/live': { 204: NoContent },
  'GET /v1/stores/:storeId/live': { 200: sse('`snapshot` (the latest, then each new one) and `event` (each accepted event)') },
  'GET /v1/tokens': { 200: TokenList },
  'DELETE /v1/tokens/:id': { 204: NoContent, 409: ErrorReply }
}
/** Anonymous routes limited per caller address (429 with Retry-After). */
export const RATE_LIMITED = new Set(['POST /v1/devices'])

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

function roleHook(h: unknown): h is RoleHook {
  return typeof h === 'function' && ROLES in h
}
const hooks = (h: RouteOptions['preHandler']): unknown[] => (h === undefined ? [] : Array.isArray(h) ? h : [h])

/**
 * Runs a route's requireRole hook at onRequest (authentication before the body is read and
 * validated: anonymous callers learn nothing of the schema) and documents the route.
 */
export function prepareRoute(r: RouteOptions): void {
  const pre = hooks(r.preHandler)
  const auth = pre.find(roleHook)
  if (auth) {
    r.preHandler = pre.filter(h => h !== auth) as RouteOptions['preHandler']
    r.onRequest = [auth, ...hooks(r.onRequest)] as RouteOptions['onRequest']
  }
  const schema = r.schema ?? {}
  if ((schema as { hide?: boolean }).hide) return
  const key = `${[r.method].flat()[0]} ${r.url}`
  if (key.startsWith('HEAD ')) return
  const response: Responses = { ...(SUCCESS[key] ?? {}), ...((schema.response ?? {}) as Responses) }
  // 400 on every route: a malformed URL is refused before any route runs.
  const errors = [400, 500]
  // Fastify reads a body on these methods whatever the route declares: a DELETE with an unknown
  // content type is a 415, an over-long one a 413.
  if (schema.body || [r.method].flat().some(m => BODY_METHODS.has(m))) errors.push(413, 415)
  if (schema.params) errors.push(404, 414)
  if (auth) errors.push(401, 403, 429)
  if (RATE_LIMITED.has(key)) errors.push(429)
  for (const s of errors) response[s] ??= ErrorReply
  const secured = auth !== undefined
  r.schema = { ...schema, response, ...{ security: secured ? [{ bearer: [] }] : [] } }
}
