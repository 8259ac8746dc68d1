// Request and response schemas of the central server (contract §6). Each TypeBox schema is the
// route's JSON schema and, through Static, its TypeScript type.
import { Type, type Static } from '@sinclair/typebox'
import { EventSchema } from '../shared/events.ts'

export const StoreParams = Type.Object({ storeId: Type.String({ minLength: 1, maxLength: 100 }) })
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) })
export const EventsBody = Type.Object({ events: Type.Array(EventSchema, { maxItems: 1000 }) })
export const EventsReply = Type.Object({ accepted: Type.Integer(), duplicates: Type.Integer() })
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
export const ErrorReply = Type.Object({ error: Type.String(), message: Type.String() })

export type EventsBodyT = Static<typeof EventsBody>
export type RegisterBodyT = Static<typeof RegisterBody>
export type ConsentBodyT = Static<typeof ConsentBody>
export type AckBodyT = Static<typeof AckBody>
export type OperatorBodyT = Static<typeof OperatorBody>
