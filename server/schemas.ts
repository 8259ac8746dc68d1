// Request and response schemas of the central server (contract §6). Each TypeBox schema is the
// route's JSON schema and, through Static, its TypeScript type.
import { Type, type Static } from '@sinclair/typebox'
import { EventSchema } from '../shared/events.ts'

export const StoreParams = Type.Object({ storeId: Type.String({ minLength: 1, maxLength: 100 }) })
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) })
export const EventsBody = Type.Object({ events: Type.Array(EventSchema, { maxItems: 1000 }) })
export const EventsReply = Type.Object({ accepted: Type.Integer(), duplicates: Type.Integer() })
// No caller-chosen id: the server issues the identity. Anything extra (a legacy `bleId`) is a 400.
export const RegisterBody = Type.Object({
  consent: Type.Object({ presence: Type.Boolean(), marketing: Type.Boolean() }, { additionalProperties: false })
}, { additionalProperties: false })
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
export const AckBody = Type.Object({ status: Type.Union(['delivered', 'opened', 'dismissed', 'converted'].map(s => Type.Literal(s))) })
export const StoreBody = Type.Object({ site: Type.Object({ storeId: Type.String() }, { additionalProperties: true }) })
export const OperatorBody = Type.Object({
  role: Type.Union([Type.Literal('admin'), Type.Literal('manager')]),
  stores: Type.Array(Type.String({ minLength: 1 }), { maxItems: 1000 })
})
export const ErrorReply = Type.Object({ error: Type.String(), message: Type.String() })

export type EventsBodyT = Static<typeof EventsBody>
export type RegisterBodyT = Static<typeof RegisterBody>
export type ConfigQueryT = Static<typeof ConfigQuery>
export type ConsentBodyT = Static<typeof ConsentBody>
export type AckBodyT = Static<typeof AckBody>
export type OperatorBodyT = Static<typeof OperatorBody>
