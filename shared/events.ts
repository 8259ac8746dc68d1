// Events (contract §5). One schema, and the type derived from it. Every field has a size, a
// character set or a range: events cross a trust boundary (gateway → server → dashboard), and
// what reaches a page or a database must be bounded before anyone reads it.
import { Type, type Static } from '@sinclair/typebox'

export const EVENT_TYPES = ['shop.enter', 'shop.exit', 'visit.summary', 'sector.enter', 'sector.exit', 'sector.dwell', 'trigger.fired'] as const

/**
 * Names a plain JS object inherits (`__proto__`, `constructor`, `toString`…) plus `prototype`: an id
 * that is one of them, used as an object key by any consumer, reaches or shadows Object.prototype.
 * Every `__` prefix is refused, which covers `__proto__` and the `__define…`/`__lookup…` family.
 */
const NOT_RESERVED = '(?!__|(?:constructor|prototype|hasOwnProperty|isPrototypeOf|propertyIsEnumerable|toString|toLocaleString|valueOf)$)'
/** Ids that name things (events, visits, campaigns, shops, sectors): letters, digits and `_.:-`, never a reserved key. */
export const SAFE_ID = `^${NOT_RESERVED}[A-Za-z0-9_.:-]+$`
/**
 * Subjects: `app:<hex>`, `h:<hex>`, `ibeacon:<uuid>:<major>:<minor>`, `eddystone:…` or another
 * sensor-given BLE id; a few more characters than SAFE_ID (`@+=/`) for ids sensors may send, never
 * markup, quotes, spaces or control characters.
 */
export const SUBJECT = `^${NOT_RESERVED}[A-Za-z0-9_.:@+=/-]+$`
/** Store ids, as the site schema allows them (contract §1). */
export const STORE_ID = `^${NOT_RESERVED}[A-Za-z0-9_.-]+$`
/** The longest store id (contract §1). */
export const STORE_ID_MAX = 100
/**
 * A store id's one shape, for every schema that takes one (site file, events, campaigns, routes,
 * acks, operator tokens): a store accepted in one place is never refused in another.
 */
export const StoreId = (extra: { patternText?: string; description?: string } = {}) => Type.String({ minLength: 1, maxLength: STORE_ID_MAX, pattern: STORE_ID, ...extra })
/**
 * A store id naming a store that may already exist: the same characters and length without the
 * reserved names, which the site schema took until they were refused (`__main`, `valueOf`): such a
 * store, kept in an upgraded database, must stay readable and manageable. The names that reach an
 * object's prototype stay refused.
 */
export const KnownStoreId = () => Type.String({ minLength: 1, maxLength: STORE_ID_MAX, pattern: '^(?!(?:__proto__|constructor|prototype)$)[A-Za-z0-9_.-]+$' })
/** Free text (titles, reasons): anything printable, no control characters. */
const TEXT = '^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f\\u202a-\\u202e\\u2066-\\u2069]*$'

const Id = (maxLength: number) => Type.String({ minLength: 1, maxLength, pattern: SAFE_ID })
/** Epoch milliseconds up to the year 2286: finite, so a JSON `1e999` (Infinity) is refused. */
const EpochMs = Type.Number({ minimum: 0, maximum: 1e13 })
/** A duration, ms: up to a year. */
const Ms = Type.Number({ minimum: 0, maximum: 365 * 86_400_000 })
const Count = Type.Integer({ minimum: 0, maximum: 1_000_000 })

export const Frequency = Type.Object(
  {
    visits7d: Count,
    visits30d: Count,
    visits90d: Count,
    daysSinceLastVisit: Type.Union([Type.Integer({ minimum: 0, maximum: 100_000 }), Type.Null()]),
    segment: Type.Union([Type.Literal('first'), Type.Literal('returning'), Type.Literal('regular'), Type.Literal('lapsed')])
  },
  { additionalProperties: false }
)

/**
 * A link a phone may open: http(s) or an app's own scheme (`app://offers/42`). Never `javascript:`,
 * `data:`, `vbscript:`, `file:` or `blob:` in any letter case (a page that renders it as a link would
 * run it), and no control or bidirectional-override character. The server narrows it to an allowlist.
 */
export const SAFE_URL =
  '^(?![Jj][Aa][Vv][Aa][Ss][Cc][Rr][Ii][Pp][Tt]:|[Dd][Aa][Tt][Aa]:|[Vv][Bb][Ss][Cc][Rr][Ii][Pp][Tt]:|[Ff][Ii][Ll][Ee]:|[Bb][Ll][Oo][Bb]:)[A-Za-z][A-Za-z0-9+.-]*:[^\\s<>"\'`\\u0000-\\u001f\\u007f-\\u009f\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]*$'

export const Content = Type.Object(
  {
    title: Type.String({ maxLength: 200, pattern: TEXT }),
    body: Type.Optional(Type.String({ maxLength: 2000, pattern: TEXT })),
    url: Type.Optional(Type.String({ maxLength: 2000, pattern: SAFE_URL })),
    /** Minutes the message stays worth showing (default 60): an "in-store now" offer expires. */
    ttlMin: Type.Optional(Type.Number({ minimum: 1, maximum: 10080 }))
  },
  { additionalProperties: false }
)

export const EventSchema = Type.Object(
  {
    id: Id(64),
    type: Type.Union(EVENT_TYPES.map(t => Type.Literal(t))),
    storeId: StoreId(),
    subject: Type.String({ minLength: 1, maxLength: 160, pattern: SUBJECT }),
    visitId: Type.Optional(Id(64)),
    seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    ts: EpochMs,
    shop: Type.Optional(Id(200)),
    sector: Type.Optional(Id(200)),
    dwellMs: Type.Optional(Ms),
    thresholdMs: Type.Optional(Ms),
    durationMs: Type.Optional(Ms),
    sectors: Type.Optional(Type.Array(Type.Object({ id: Id(200), dwellMs: Ms }, { additionalProperties: false }), { maxItems: 500 })),
    confidence: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    frequency: Type.Optional(Frequency),
    campaignId: Type.Optional(Id(100)),
    content: Type.Optional(Content),
    reason: Type.Optional(Type.String({ maxLength: 500, pattern: TEXT }))
  },
  { additionalProperties: false }
)

export type InstoreEvent = Static<typeof EventSchema>
export type FrequencyT = Static<typeof Frequency>
export type ContentT = Static<typeof Content>
