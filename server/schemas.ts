// Request and response schemas of the central server (contract §6). Each TypeBox schema is the
// route's JSON schema and, through Static, its TypeScript type.
import { Type, type Static } from '@sinclair/typebox'
import { EventSchema, KnownStoreId, SAFE_ID, StoreId, SUBJECT } from '../shared/events.ts'

export const StoreParams = Type.Object({ storeId: KnownStoreId() })
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) })
/** The query of a route that takes none: an unknown parameter is a 400, not silently ignored. */
export const NoQuery = Type.Object({}, { additionalProperties: false })
/** The trigger stream's query: where to resume (also the Last-Event-ID header). */
export const TriggersQuery = Type.Object({ lastEventId: Type.Optional(Type.String({ maxLength: 40 })) }, { additionalProperties: false })
/** The live stream's query: EventSource cannot send a header, so the token may come here. */
export const MAX_EVENTS = 1000
export const EventsBody = Type.Object({ events: Type.Array(EventSchema, { maxItems: MAX_EVENTS }) }, { additionalProperties: false })
export const EventsReply = Type.Object({ accepted: Type.Integer(), duplicates: Type.Integer() })
/** 400/422: some events were refused (each by its place in the batch, with its code); the others were stored. */
export const EventsRefusedReply = Type.Object({
  error: Type.String(),
  message: Type.String(),
  accepted: Type.Integer(),
  duplicates: Type.Integer(),
  refused: Type.Array(Type.Object({ index: Type.Integer(), id: Type.Union([Type.String(), Type.Null()]), error: Type.String(), message: Type.String() }))
})
// No caller-chosen id: the server issues the identity. Anything extra (a legacy `bleId`) is a 400.
export const RegisterBody = Type.Object(
  {
    consent: Type.Object({ presence: Type.Boolean(), marketing: Type.Boolean() }, { additionalProperties: false })
  },
  { additionalProperties: false }
)
export const RegisterReply = Type.Object({
  deviceId: Type.String(),
  token: Type.String(),
  /** The stable subject gateways resolve this device's EIDs to: `app:` + 16 hex digits. */
  subject: Type.String({ pattern: '^app:[0-9a-f]{16}$' }),
  /** What the app advertises: Eddystone-EID from this 16-byte identity key, a new id every 2^k s. */
  eid: Type.Object({ key: Type.String({ pattern: '^[0-9a-f]{32}$' }), k: Type.Integer({ minimum: 0, maximum: 15 }) })
})
export const ConfigQuery = Type.Object({ since: Type.Optional(Type.String({ maxLength: 100 })) }, { additionalProperties: false })
export const ConsentBody = Type.Object({ presence: Type.Boolean(), marketing: Type.Boolean() }, { additionalProperties: false })
export const AckBody = Type.Object({
  status: Type.Union(['delivered', 'opened', 'dismissed', 'converted'].map(s => Type.Literal(s))),
  /** The trigger's store: acknowledges that store's trigger only; without it, the id must name one trigger of the caller's (else 409 INSTORE_AMBIGUOUS_TRIGGER). */
  storeId: Type.Optional(StoreId())
})
export const StoreBody = Type.Object({ site: Type.Object({ storeId: Type.String() }, { additionalProperties: true }) })
export const OperatorBody = Type.Object({
  role: Type.Union([Type.Literal('admin'), Type.Literal('manager')]),
  stores: Type.Array(KnownStoreId(), { maxItems: 1000 })
})

// The live snapshot a gateway posts every second (positions, occupancy, footfall): it goes
// straight to operators' pages, so every string has a charset and every number a range.
const Coord = Type.Number({ minimum: -1e6, maximum: 1e6 })
const ZoneId = Type.String({ minLength: 1, maxLength: 200, pattern: SAFE_ID })
const People = Type.Integer({ minimum: 0, maximum: 1_000_000 })
const PerZone = Type.Record(ZoneId, People, { additionalProperties: false, maxProperties: 5000 })
export const LivePosition = Type.Object(
  {
    subject: Type.String({ minLength: 1, maxLength: 160, pattern: SUBJECT }),
    ts: Type.Number({ minimum: 0, maximum: 1e13 }),
    x: Coord,
    y: Coord,
    floor: Type.Integer({ minimum: -100, maximum: 1000 }),
    accuracyM: Type.Number({ minimum: 0, maximum: 1e6 }),
    shop: Type.Union([ZoneId, Type.Null()]),
    sector: Type.Union([ZoneId, Type.Null()]),
    source: Type.Union([Type.Literal('ble'), Type.Literal('wifi')])
  },
  { additionalProperties: false }
)
const ZoneCounts = Type.Object({ shops: PerZone, sectors: PerZone }, { additionalProperties: false })
const Count = Type.Integer({ minimum: 0, maximum: 1_000_000 })
const Seconds = Type.Union([Type.Number({ minimum: 0, maximum: 1e7 }), Type.Null()])
export const LiveSnapshot = Type.Object(
  {
    ts: Type.Number({ minimum: 0, maximum: 1e13 }),
    positions: Type.Array(LivePosition, { maxItems: 20_000 }),
    // Occupancy as the gateway publishes it (contract §4 and its people-counting extensions).
    occupancy: Type.Union([
      Type.Null(),
      Type.Object(
        {
          ts: Type.Number({ minimum: 0, maximum: 1e13 }),
          shops: PerZone,
          sectors: PerZone,
          passersBy: People,
          low: Type.Optional(ZoneCounts),
          high: Type.Optional(ZoneCounts),
          bySource: Type.Optional(Type.Object({ app: ZoneCounts, ble: ZoneCounts, wifi: ZoneCounts }, { additionalProperties: false })),
          fixtures: Type.Optional(People)
        },
        { additionalProperties: false }
      )
    ]),
    footfall: Type.Optional(
      Type.Object(
        {
          ts: Type.Optional(Type.Number({ minimum: 0, maximum: 1e13 })),
          date: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' }),
          wifiDevices: People,
          wifiAddresses: People,
          bleDevices: People,
          visitors: Type.Optional(Count),
          wifiVisitors: Type.Optional(Count),
          appVisitors: Type.Optional(Count),
          bleVisitors: Type.Optional(Count),
          visitorsByHour: Type.Optional(Type.Record(Type.String({ pattern: '^[0-9]{2}$' }), Count, { additionalProperties: false, maxProperties: 24 })),
          dwell: Type.Optional(
            Type.Object(
              {
                n: Count,
                medianS: Seconds,
                p90S: Seconds,
                buckets: Type.Record(Type.String({ pattern: '^[0-9]+(-[0-9]+|\\+)?$', maxLength: 16 }), Count, { additionalProperties: false, maxProperties: 50 })
              },
              { additionalProperties: false }
            )
          )
        },
        { additionalProperties: false }
      )
    )
  },
  { additionalProperties: false }
)
export type LiveSnapshotT = Static<typeof LiveSnapshot>

export const ErrorReply = Type.Object({ error: Type.String(), message: Type.String() })

export type EventsBodyT = Static<typeof EventsBody>
export type RegisterBodyT = Static<typeof RegisterBody>
export type ConfigQueryT = Static<typeof ConfigQuery>
export type ConsentBodyT = Static<typeof ConsentBody>
export type AckBodyT = Static<typeof AckBody>
export type OperatorBodyT = Static<typeof OperatorBody>

// Responses. Every operation's statuses and schemas are listed in openapi.ts; errors share one.
export const NoContent = Type.Null({ description: 'No Content' })
export const TokenInfo = Type.Object({
  id: Type.String({ description: 'public id of the token (not derived from the secret)' }),
  role: Type.Union([Type.Literal('admin'), Type.Literal('manager'), Type.Literal('gateway'), Type.Literal('device')]),
  stores: Type.Array(Type.String()),
  deviceId: Type.Union([Type.String(), Type.Null()]),
  created: Type.Integer({ description: 'ms since the epoch' }),
  lastUsed: Type.Union([Type.Integer(), Type.Null()], { description: 'ms since the epoch, to within a minute; null if never used' })
})
export const TokenList = Type.Array(TokenInfo)
/** Tokens a page of GET /v1/tokens holds by default, and at most. */
export const TOKEN_PAGE = 100
export const TOKEN_PAGE_MAX = 1000
export const TokenQuery = Type.Object(
  {
    role: Type.Optional(Type.Union([Type.Literal('admin'), Type.Literal('manager'), Type.Literal('gateway'), Type.Literal('device')])),
    store: Type.Optional(Type.String({ ...KnownStoreId(), description: 'only tokens covering this store' })),
    deviceId: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: "only this device's tokens" })),
    limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$', description: `tokens in the page, 1 to ${TOKEN_PAGE_MAX} (default ${TOKEN_PAGE})` })),
    after: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,15}\\.[A-Za-z0-9_-]{1,100}$', maxLength: 120, description: "the previous page's cursor (its Link rel=next, or X-Next-Cursor)" })
    )
  },
  { additionalProperties: false }
)
export type TokenQueryT = Static<typeof TokenQuery>
export const StoreReply = Type.Object({
  storeId: Type.String(),
  gatewayToken: Type.String(),
  gatewayTokenId: Type.String(),
  revokedTokens: Type.Integer({ description: 'earlier gateway tokens of the store, revoked by this provisioning' })
})
export const OperatorReply = Type.Object({ id: Type.String(), role: Type.String(), stores: Type.Array(Type.String()), token: Type.String() })
export const AnalyticsQuery = Type.Object(
  { since: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'ms since the epoch; counted from the start of its hour' })) },
  { additionalProperties: false }
)
const Funnel = {
  fired: Type.Integer(),
  delivered: Type.Integer(),
  opened: Type.Integer(),
  dismissed: Type.Integer(),
  converted: Type.Integer(),
  rates: Type.Object({ delivered: Type.Number(), opened: Type.Number(), converted: Type.Number() })
}
export const AnalyticsReply = Type.Object({
  storeId: Type.String(),
  occupancy: Type.Object({ shops: Type.Record(Type.String(), Type.Integer()), sectors: Type.Record(Type.String(), Type.Integer()) }),
  visits: Type.Object({
    total: Type.Integer({ description: 'completed visits (shop.exit)' }),
    perDay: Type.Array(Type.Object({ day: Type.String(), visits: Type.Integer() })),
    medianDurationMs: Type.Union([Type.Number(), Type.Null()], { description: 'to within 5%' })
  }),
  dwell: Type.Object({ bucketsS: Type.Array(Type.Number()), sectors: Type.Record(Type.String(), Type.Array(Type.Integer())) }),
  segments: Type.Record(Type.String(), Type.Integer()),
  funnel: Type.Array(Type.Object({ campaign: Type.Union([Type.String(), Type.Null()]), ...Funnel })),
  funnelBySector: Type.Array(Type.Object({ sector: Type.Union([Type.String(), Type.Null()]), ...Funnel }))
})
export type AnalyticsReplyT = Static<typeof AnalyticsReply>
