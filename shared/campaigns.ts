// Campaign rules (contract §6): when, audience, schedule in the store's time zone, caps, content.
import { Type, type Static } from '@sinclair/typebox'
import { Content } from './events.ts'
import { loadJsonFile } from './schema-errors.ts'

const HHMM = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$' })
const Day = Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' })

export const CampaignSchema = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.:-]+$' }),
  name: Type.Optional(Type.String({ maxLength: 200 })),
  stores: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 1000 }),
  when: Type.Object({
    event: Type.Union(['shop.enter', 'shop.exit', 'sector.enter', 'sector.exit', 'sector.dwell'].map(e => Type.Literal(e))),
    shop: Type.Optional(Type.String()),
    sector: Type.Optional(Type.String()),
    /** For sector.dwell: fire once the stay reaches this many seconds. */
    minDwellS: Type.Optional(Type.Number({ minimum: 1, maximum: 86400 }))
  }),
  audience: Type.Optional(Type.Object({
    segments: Type.Optional(Type.Array(Type.Union(['first', 'returning', 'regular', 'lapsed'].map(s => Type.Literal(s))), { minItems: 1 }))
  })),
  schedule: Type.Optional(Type.Object({
    from: Type.Optional(Day),
    to: Type.Optional(Day),
    hours: Type.Optional(Type.Array(Type.Tuple([HHMM, HHMM]), { minItems: 1, maxItems: 24 })),
    days: Type.Optional(Type.Array(Type.Union(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map(d => Type.Literal(d))), { minItems: 1 }))
  })),
  cap: Type.Optional(Type.Object({
    /** Seconds before the same shopper can get this campaign again. */
    cooldownS: Type.Optional(Type.Number({ minimum: 0 })),
    /** Most triggers of this campaign per visit. */
    perVisit: Type.Optional(Type.Integer({ minimum: 1 }))
  })),
  content: Content,
  active: Type.Optional(Type.Boolean())
})

export type Campaign = Static<typeof CampaignSchema>

/** Reads a JSON array of campaigns; throws listing every problem (path and reason). */
export function loadCampaignsFile (path: string): Campaign[] {
  return loadJsonFile(path, Type.Array(CampaignSchema), 'campaigns file')
}
