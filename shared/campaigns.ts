// Campaign rules (contract §6): when, audience, schedule in the store's time zone, caps, content.
import { Type, type Static } from '@sinclair/typebox'
import { Content, SAFE_ID, StoreId } from './events.ts'
import { loadJsonFile } from './schema-errors.ts'
import { localTime } from './local-time.ts'

const HHMM = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$' })
const Day = Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' })

/** Free text: printable, no control or bidirectional-override characters. */
const Text = (maxLength: number) => Type.String({ maxLength, pattern: '^[^\\u0000-\\u001f\\u007f\\u202a-\\u202e\\u2066-\\u2069]*$' })
const Zone = Type.String({ minLength: 1, maxLength: 200, pattern: SAFE_ID })

// Every object closed and every list bounded: a campaign is stored, sent to every gateway of its
// stores and shown on dashboards, so an operator's typo or a hostile token cannot smuggle extra keys.
export const CampaignSchema = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 100, pattern: SAFE_ID }),
    name: Type.Optional(Text(200)),
    stores: Type.Array(StoreId(), { minItems: 1, maxItems: 1000, uniqueItems: true }),
    when: Type.Object(
      {
        event: Type.Union(['shop.enter', 'shop.exit', 'sector.enter', 'sector.exit', 'sector.dwell'].map(e => Type.Literal(e))),
        shop: Type.Optional(Zone),
        sector: Type.Optional(Zone),
        /** For sector.dwell: fire once the stay reaches this many seconds. */
        minDwellS: Type.Optional(Type.Number({ minimum: 1, maximum: 86400 }))
      },
      { additionalProperties: false }
    ),
    audience: Type.Optional(
      Type.Object(
        {
          segments: Type.Optional(Type.Array(Type.Union(['first', 'returning', 'regular', 'lapsed'].map(s => Type.Literal(s))), { minItems: 1, maxItems: 4, uniqueItems: true }))
        },
        { additionalProperties: false }
      )
    ),
    schedule: Type.Optional(
      Type.Object(
        {
          from: Type.Optional(Day),
          to: Type.Optional(Day),
          hours: Type.Optional(Type.Array(Type.Tuple([HHMM, HHMM]), { minItems: 1, maxItems: 24 })),
          days: Type.Optional(Type.Array(Type.Union(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map(d => Type.Literal(d))), { minItems: 1, maxItems: 7, uniqueItems: true }))
        },
        { additionalProperties: false }
      )
    ),
    cap: Type.Optional(
      Type.Object(
        {
          /** Seconds before the same shopper can get this campaign again. */
          cooldownS: Type.Optional(Type.Number({ minimum: 0, maximum: 365 * 86400 })),
          /** Most triggers of this campaign per visit. */
          perVisit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 }))
        },
        { additionalProperties: false }
      )
    ),
    content: Content,
    active: Type.Optional(Type.Boolean())
  },
  { additionalProperties: false }
)

export type Campaign = Static<typeof CampaignSchema>

/** Reads a JSON array of campaigns; throws listing every problem (path and reason). */
export function loadCampaignsFile(path: string): Campaign[] {
  const campaigns = loadJsonFile(path, Type.Array(CampaignSchema), 'campaigns file')
  const problems = campaigns.flatMap((c, i) => scheduleProblems(c).map(p => `  /${i}/${p}`))
  if (problems.length > 0) throw new Error(`invalid campaigns file ${path}: ${problems.length} problem(s)\n${problems.join('\n')}`)
  return campaigns
}

/** Whether `day` (YYYY-MM-DD, as the schema checks) is a date of the calendar: 2026-02-30 is not. */
function realDay(day: string): boolean {
  const d = new Date(`${day}T00:00:00Z`)
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === day
}

/**
 * What makes a campaign's schedule one that can never run, beyond its schema: a date not on the
 * calendar, `from` after `to`, an hour range that ends before it starts. Each as `path: reason`.
 */
export function scheduleProblems(c: Campaign): string[] {
  const s = c.schedule
  if (!s) return []
  const out: string[] = []
  for (const k of ['from', 'to'] as const) {
    const day = s[k]
    if (day !== undefined && !realDay(day)) out.push(`schedule/${k}: ${day} is not a date of the calendar`)
  }
  if (s.from !== undefined && s.to !== undefined && s.from > s.to) out.push(`schedule: from ${s.from} is after to ${s.to}: the campaign would never run`)
  s.hours?.forEach(([a, b], i) => {
    if (a >= b) out.push(`schedule/hours/${i}: ${a} is not before ${b}: the range holds no minute`)
  })
  return out
}

/** Which part of a campaign's schedule (store-local dates, weekdays, hours) rules out `ts`, or null when it runs then. */
export function scheduleRefusal(c: Campaign, ts: number, timeZone: string): 'dates' | 'days' | 'hours' | null {
  const s = c.schedule
  if (!s) return null
  const l = localTime(ts, timeZone)
  if ((s.from !== undefined && l.date < s.from) || (s.to !== undefined && l.date > s.to)) return 'dates'
  if (s.days !== undefined && !(s.days as string[]).includes(l.weekday)) return 'days'
  const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5))
  if (s.hours !== undefined && !s.hours.some(([a, b]) => l.minutes >= minutes(a) && l.minutes < minutes(b))) return 'hours'
  return null
}
