// Request and response schemas of the central server (contract §6). Each TypeBox schema is the
// route's JSON schema and, through Static, its TypeScript type.
import { Type, type Static } from '@sinclair/typebox'
import { EventSchema, SAFE_ID, SUBJECT } from '../shared/events.ts'

export const StoreParams = Type.Object({ storeId: Type.String({ minLength: 1, maxLength: 100 }) })
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) })
export const MAX_EVENTS = 1000
export const EventsBody = Type.Object({ events: Type.Array(EventSchema, { maxItems: MAX_EVENTS }) }, { additionalProperties: false })
export const EventsReply = Type.Object({ accepted: Type.Integer(), duplicates: Type.Integer() })
/** 400/422: some events were refused (each by its place in the batch, with its code); the others were stored. */
export const EventsRefusedReply = Type.Object({
  error: Type.String(), message: Type.String(), accepted: Type.Integer(), duplicates: Type.Integer(),
  refused: Type.Array(Type.Object({ index: Type.Integer(), id: Type.Union([Type.String(), Type.Null()]), error: Type.String(), message: Type.String() }))
})
export const RegisterBody = Type.Object({
  bleId: Type.String({ minLength: 4, maxLength: 128, pattern: '^[^/+#\\s]+$' }),
  consent: Type.Object({ presence: Type.Boolean(), marketing: Type.Boolean() })
})
export const RegisterReply = Type.Object({ deviceId: Type.String(), token: Type.String() })
export const ConsentBody = Type.Object({ presence: Type.Boolean(), marketing: Type.Boolean() })
export const AckBody = Type.Object({ status: Type.Union(['delivered', 'opened', 'dismissed', 'converted'].map(s => Type.Literal(s))) })
export const StoreBody = Type.Object({ site: Type.Object({ storeId: Type.String() }, { additionalProperties: true }) })
export const OperatorBody = Type.Object({
  role: Type.Union([Type.Literal('admin'), Type.Literal('manager')]),
  stores: Type.Array(Type.String({ minLength: 1 }), { maxItems: 1000 })
})

// The live snapshot a gateway posts every second (positions, occupancy, footfall): it goes
// straight to operators' pages, so every string has a charset and every number a range.
const Coord = Type.Number({ minimum: -1e6, maximum: 1e6 })
const ZoneId = Type.String({ minLength: 1, maxLength: 200, pattern: SAFE_ID })
const People = Type.Integer({ minimum: 0, maximum: 1_000_000 })
const PerZone = Type.Record(ZoneId, People, { additionalProperties: false, maxProperties: 5000 })
export const LivePosition = Type.Object({
  subject: Type.String({ minLength: 1, maxLength: 160, pattern: SUBJECT }),
  ts: Type.Number({ minimum: 0, maximum: 1e13 }),
  x: Coord, y: Coord,
  floor: Type.Integer({ minimum: -100, maximum: 1000 }),
  accuracyM: Type.Number({ minimum: 0, maximum: 1e6 }),
  shop: Type.Union([ZoneId, Type.Null()]),
  sector: Type.Union([ZoneId, Type.Null()]),
  source: Type.Union([Type.Literal('ble'), Type.Literal('wifi')])
}, { additionalProperties: false })
export const LiveSnapshot = Type.Object({
  ts: Type.Number({ minimum: 0, maximum: 1e13 }),
  positions: Type.Array(LivePosition, { maxItems: 20_000 }),
  // People counting may add a per-source breakdown or a range (contract §4): numbers, or numbers per zone.
  occupancy: Type.Union([Type.Null(), Type.Object({
    ts: Type.Number({ minimum: 0, maximum: 1e13 }), shops: PerZone, sectors: PerZone, passersBy: People
  }, { propertyNames: { pattern: SAFE_ID, maxLength: 100 }, additionalProperties: Type.Union([Type.Number({ minimum: -1e9, maximum: 1e9 }), Type.Record(ZoneId, Type.Number({ minimum: -1e9, maximum: 1e9 }), { additionalProperties: false, maxProperties: 5000 })]), maxProperties: 20 })]),
  footfall: Type.Optional(Type.Object({
    date: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' }), wifiDevices: People, wifiAddresses: People, bleDevices: People
  }, { additionalProperties: false }))
}, { additionalProperties: false })
export type LiveSnapshotT = Static<typeof LiveSnapshot>

export const ErrorReply = Type.Object({ error: Type.String(), message: Type.String() })

export type EventsBodyT = Static<typeof EventsBody>
export type RegisterBodyT = Static<typeof RegisterBody>
export type ConsentBodyT = Static<typeof ConsentBody>
export type AckBodyT = Static<typeof AckBody>
export type OperatorBodyT = Static<typeof OperatorBody>
