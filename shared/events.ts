// Events (contract §5). One schema, and the type derived from it.
import { Type, type Static } from '@sinclair/typebox'

export const EVENT_TYPES = ['shop.enter', 'shop.exit', 'visit.summary', 'sector.enter', 'sector.exit', 'sector.dwell', 'trigger.fired'] as const

export const Frequency = Type.Object({
  visits7d: Type.Integer({ minimum: 0 }),
  visits30d: Type.Integer({ minimum: 0 }),
  visits90d: Type.Integer({ minimum: 0 }),
  daysSinceLastVisit: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
  segment: Type.Union([Type.Literal('first'), Type.Literal('returning'), Type.Literal('regular'), Type.Literal('lapsed')])
})

export const Content = Type.Object({
  title: Type.String({ maxLength: 200 }),
  body: Type.Optional(Type.String({ maxLength: 2000 })),
  url: Type.Optional(Type.String({ maxLength: 2000 })),
  /** Minutes the message stays worth showing (default 60): an "in-store now" offer expires. */
  ttlMin: Type.Optional(Type.Number({ minimum: 1, maximum: 10080 }))
})

export const EventSchema = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64 }),
  type: Type.Union(EVENT_TYPES.map(t => Type.Literal(t))),
  storeId: Type.String(),
  subject: Type.String(),
  visitId: Type.Optional(Type.String()),
  seq: Type.Integer({ minimum: 1 }),
  ts: Type.Number(),
  shop: Type.Optional(Type.String()),
  sector: Type.Optional(Type.String()),
  dwellMs: Type.Optional(Type.Number()),
  thresholdMs: Type.Optional(Type.Number()),
  durationMs: Type.Optional(Type.Number()),
  sectors: Type.Optional(Type.Array(Type.Object({ id: Type.String(), dwellMs: Type.Number() }))),
  confidence: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  frequency: Type.Optional(Frequency),
  campaignId: Type.Optional(Type.String()),
  content: Type.Optional(Content),
  reason: Type.Optional(Type.String())
})

export type InstoreEvent = Static<typeof EventSchema>
export type FrequencyT = Static<typeof Frequency>
export type ContentT = Static<typeof Content>
