// Site file schema (contract §1). The TypeBox schema is the single source of the TypeScript type.
import { Type, type Static } from '@sinclair/typebox'
import { SAFE_ID, StoreId } from './events.ts'
import { SimpleStyle } from './simplestyle.ts'

/** Feature ids become object keys and event fields: the events' charset, never a reserved key (`__proto__`). */
const Id = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: SAFE_ID,
  patternText: 'letters, digits and . _ : - only (no spaces), not starting with __ nor a reserved name (constructor, toString...)'
})
const Floor = Type.Optional(Type.Integer({ description: 'floor number, default 0' }))
const Position = Type.Tuple([Type.Number(), Type.Number()])
const Ring = Type.Array(Position, { minItems: 4 })

export const PolygonSchema = Type.Object({
  type: Type.Literal('Polygon'),
  coordinates: Type.Array(Ring, { minItems: 1 })
})
export const PointSchema = Type.Object({ type: Type.Literal('Point'), coordinates: Position })

/** Extension: per-sensor residual map written by instore-calibrate (grid of dB corrections). */
export const RadioMapSchema = Type.Object(
  {
    x0: Type.Number(),
    y0: Type.Number(),
    cell: Type.Number({ exclusiveMinimum: 0 }),
    nx: Type.Integer({ minimum: 2, maximum: 4000 }),
    ny: Type.Integer({ minimum: 2, maximum: 4000 }),
    values: Type.Array(Type.Number({ minimum: -60, maximum: 60 })),
    /** Kernel weight of calibration samples per node: where the walk went (people can walk there). */
    support: Type.Optional(Type.Array(Type.Number({ minimum: 0 })))
  },
  { additionalProperties: false }
)

export const ShopProps = Type.Object(
  {
    kind: Type.Literal('shop'),
    id: Id,
    name: Type.Optional(Type.String()),
    floor: Floor,
    ...SimpleStyle
  },
  { additionalProperties: false }
)
export const SectorProps = Type.Object(
  {
    kind: Type.Literal('sector'),
    id: Id,
    shop: Id,
    name: Type.Optional(Type.String()),
    floor: Floor,
    ...SimpleStyle
  },
  { additionalProperties: false }
)
export const SensorProps = Type.Object(
  {
    kind: Type.Literal('sensor'),
    id: Id,
    name: Type.Optional(Type.String()),
    radios: Type.Optional(Type.Array(Type.Union([Type.Literal('ble'), Type.Literal('wifi')]), { minItems: 1 })),
    z: Type.Optional(Type.Number({ minimum: -10, maximum: 100, description: 'antenna height, m (default 2.5)' })),
    offsetDb: Type.Optional(Type.Number({ minimum: -40, maximum: 40, description: 'added to every RSSI this sensor reports, dB (a sensor that reads 3 dB low takes +3)' })),
    rssiAt1m: Type.Optional(Type.Number({ minimum: -120, maximum: 0, description: 'overrides radio.rssiAt1m, dBm' })),
    pathLossExponent: Type.Optional(Type.Number({ minimum: 0.5, maximum: 6, description: 'overrides radio.pathLossExponent' })),
    mac: Type.Optional(Type.String({ description: "the sensor's own MAC (maps foreign formats, e.g. Meraki APs)" })),
    radioMap: Type.Optional(RadioMapSchema),
    /** Other names this sensor goes by: an ESPresense node, an OpenMQTTGateway name. */
    aliases: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 20 })),
    floor: Floor,
    ...SimpleStyle
  },
  { additionalProperties: false }
)
export const BeaconProps = Type.Object(
  {
    kind: Type.Literal('beacon'),
    id: Type.String({
      ...Id,
      description:
        'unique among the beacons once normalised; the id sensors hear it by, in any spelling they use: an iBeacon uuid in any case, a MAC in any form (matched by its hash, as readings are); a class id (`apple:`, `name:`) is ignored with a warning, and so is a second beacon with the same normalised id'
    }),
    name: Type.Optional(Type.String()),
    rssiAt1m: Type.Optional(Type.Number({ minimum: -120, maximum: 0 })),
    z: Type.Optional(Type.Number({ minimum: -10, maximum: 100 })),
    floor: Floor,
    ...SimpleStyle
  },
  { additionalProperties: false }
)

export const ShopFeature = Type.Object({ type: Type.Literal('Feature'), properties: ShopProps, geometry: PolygonSchema })
export const SectorFeature = Type.Object({ type: Type.Literal('Feature'), properties: SectorProps, geometry: PolygonSchema })
export const SensorFeature = Type.Object({ type: Type.Literal('Feature'), properties: SensorProps, geometry: PointSchema })
export const BeaconFeature = Type.Object({ type: Type.Literal('Feature'), properties: BeaconProps, geometry: PointSchema })

export const featureSchemas = { shop: ShopFeature, sector: SectorFeature, sensor: SensorFeature, beacon: BeaconFeature } as const

export const RadioSchema = Type.Object(
  {
    pathLossExponent: Type.Number({ minimum: 0.5, maximum: 6, default: 2.2 }),
    rssiAt1m: Type.Number({ minimum: -120, maximum: 0, default: -59, description: 'BLE RSSI at 1 m, dBm' }),
    wifiRssiAt1m: Type.Optional(Type.Number({ minimum: -120, maximum: 0, description: 'Wi-Fi probe RSSI at 1 m, dBm (default rssiAt1m + 14)' })),
    tagHeightM: Type.Optional(Type.Number({ minimum: 0, maximum: 5, description: 'height of a carried phone, m (default 1.2)' })),
    shadowingDb: Type.Optional(Type.Number({ minimum: 0.5, maximum: 20, description: 'per-reading RSSI spread, dB (default 6)' })),
    accuracyScale: Type.Optional(Type.Number({ minimum: 0.25, maximum: 5, description: 'factor on the published accuracyM, measured by instore-calibrate (default 1)' })),
    outsideHeard: Type.Optional(
      Type.Boolean({
        description:
          'whether devices outside every shop are heard here (a street, a mall: default true); false for a site nobody is heard ' +
          'outside of (a flat, an office floor), whose walls then bound every fix (gateway/estimation/geometry-prior.ts)'
      })
    )
  },
  { additionalProperties: false }
)

/**
 * Extension: zone hysteresis per site. Each member's default is written here, once: the gateway
 * reads them through defaultZoneParams below, and docs/configuration.md is generated from them.
 */
export const ZoneParamsSchema = Type.Object(
  {
    shopEnterS: Type.Optional(Type.Number({ minimum: 0, maximum: 600, default: 10, description: 'evidence needed before a shop entry counts, s' })),
    shopExitS: Type.Optional(Type.Number({ minimum: 1, maximum: 3600, default: 30, description: 'time without evidence before a shop exit, s' })),
    sectorEnterS: Type.Optional(Type.Number({ minimum: 0, maximum: 600, default: 6, description: 'evidence needed before a sector entry counts, s' })),
    sectorExitS: Type.Optional(Type.Number({ minimum: 1, maximum: 3600, default: 12, description: 'time without evidence before a sector exit, s' })),
    enterMarginSigmas: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 5,
        default: 0,
        description: 'sector entry from the aisle needs the position this many accuracy radii inside the boundary'
      })
    ),
    shopEnterMarginSigmas: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 5,
        default: 0.85,
        description: 'shop entry likewise (deeper: passers-by walk right along the shop front)'
      })
    ),
    shopEnterOdds: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 1e6,
        default: 20,
        description:
          "shop entry also needs the radio over the candidate's fixes, with one transmit offset for all of them, " +
          'to make inside this many times likelier than outside (gateway/estimation/zone-odds.ts); 0 turns the test off'
      })
    ),
    shopEnterSureOdds: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 1e12,
        default: 1000,
        description:
          "once the radio makes inside this many times likelier, any fix inside the shop's outline (not only one a margin inside) " + 'is evidence for the entry; 0 turns this off'
      })
    ),
    shopEnterWeakOdds: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 1e6,
        default: 1,
        description:
          'a shop entry with shopEnterS of evidence whose radio makes inside only this many times likelier (under shopEnterOdds) is ' +
          "held all the same, and announced only on a shopper's verdict of the street-walk test, never by default (visit-hold.ts); 0 turns this off"
      })
    ),
    shopEnterFromOutline: Type.Optional(
      Type.Boolean({
        default: true,
        description:
          "with the radio test on, any fix inside the shop's outline (not only one a margin inside) opens a shop entry for the radio " +
          'to weigh, and a confirmed entry is stamped from it (gateway/presence/zones-entry.ts, docs/zones-and-visits.md)'
      })
    ),
    shopEnterByRadio: Type.Optional(
      Type.Boolean({
        default: true,
        description:
          'once the radio makes inside shopEnterOdds times likelier, a fix whose own readings fit inside better than outside, at the ' +
          "offset the entry's fixes share, is evidence for the entry wherever it was placed: inside the outline, or outside it where " +
          'the learned outside traffic is thinner than average (gateway/presence/zones-entry.ts, docs/zones-and-visits.md)'
      })
    ),
    shopEnterGapS: Type.Optional(
      Type.Number({ minimum: 0, maximum: 600, default: 5, description: 'a shop entry the radio test weighs survives gaps this long in its evidence, s' })
    ),
    shopHoldS: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 600,
        default: 20,
        description:
          'a visit is held back this long after it began, then tested every 5 s (gateway/estimation/street-walk.ts: straight walks outside ' +
          "the shop against walks anywhere over the device's last half minute) until it is announced or dropped; its events wait with it; " +
          '0 announces every visit at once, s'
      })
    ),
    shopHoldMaxS: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 600,
        default: 50,
        description: 'a held visit the test has not told by this long after it began is announced, unless that test took it for a passer-by, s'
      })
    ),
    streetWalkGap: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 1e6,
        default: 3,
        description:
          "under this gap (-2 ln L) between a straight walk outside and one anywhere, a test takes the held visit for a passer-by's; " +
          'two such tests in a row, or one at its end, drop it'
      })
    ),
    streetWalkSureGap: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 1e6,
        default: 40,
        description: "at or above this gap between a straight walk outside and a walk anywhere that may stop, a shopper's: the held visit is announced"
      })
    ),
    floorChangeS: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 600,
        default: 30,
        description:
          'floors are reached through the building: a device that comes from a visit on another floor (its last fix there at most ' +
          "this long ago) enters this floor's shop without the radio test or the hold, and a visit confirmed on one floor makes the " +
          "device's unconfirmed run through a shop on the floor it came from, ended at most this long before, a visit too; 0 turns both off, s"
      })
    ),
    switchMarginSigmas: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 5,
        default: 0.35,
        description: 'moving straight from one sector into another needs this many (the device was just next door)'
      })
    ),
    exitMarginSigmas: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 5,
        default: 0.7,
        description: 'a position this many accuracy radii outside a sector still counts as staying in it'
      })
    ),
    shopExitMarginSigmas: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 5,
        default: 0,
        description:
          'likewise for a shop; 0 because the exit timeout already keeps a visit through a few seconds outside, ' +
          'and a margin kept a shopper walking away along the street in the shop'
      })
    ),
    maxMarginM: Type.Optional(Type.Number({ minimum: 0, maximum: 50, default: 3, description: 'margins never exceed this, m' })),
    dwellThresholdsS: Type.Optional(
      Type.Array(Type.Number({ minimum: 1 }), {
        maxItems: 50,
        default: [30, 60, 120, 300],
        description: 'sector.dwell fires as a stay crosses each of these, s'
      })
    )
  },
  { additionalProperties: false }
)

/** Extension: people counting (gateway/presence/people.ts); every member optional. */
export const PeopleParamsSchema = Type.Object(
  {
    fixtures: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        maxItems: 1000,
        description:
          'always-on devices to leave out of people counts from the start: MAC addresses (12 hex digits, bare or grouped with the separators : - . _ or space) or h: subjects (h: and 16 lower-case hex digits)'
      })
    ),
    notFixtures: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        maxItems: 1000,
        description: 'devices never to take for fixtures however long they stay: MAC addresses or h: subjects, written as for fixtures'
      })
    ),
    fixtureAfterS: Type.Optional(
      Type.Number({ minimum: 600, maximum: 86_400, default: 14_400, description: 'a Wi-Fi device heard across this long, in most of its 10-minute slots, is a fixture, s' })
    ),
    presenceS: Type.Optional(
      Type.Number({ minimum: 30, maximum: 3600, default: 210, description: 'a Wi-Fi device counts as here while its last probe burst is at most this old, s' })
    ),
    devicesPerPerson: Type.Optional(
      Type.Number({ minimum: 1, maximum: 5, default: 1, description: 'Wi-Fi devices per visitor on average (phones plus watches and tablets), from a manual count' })
    ),
    newWifiDevicesPerSensorMin: Type.Optional(
      Type.Integer({
        minimum: 5,
        maximum: 10_000,
        default: 30,
        description: 'new Wi-Fi devices one sensor may give in a minute; past it the sensor is flooded and its new addresses count as one device (a sender inventing addresses)'
      })
    ),
    newBleDevicesPerSectorMin: Type.Optional(
      Type.Integer({
        minimum: 5,
        maximum: 10_000,
        default: 30,
        description:
          'new anonymous BLE devices one sector may give in a minute, and new stable BLE ids one sensor may give; past it the sector or sensor is flooded: its new addresses count as one device, its new stable ids open no visit'
      })
    ),
    knownIrks: Type.Optional(
      Type.Array(Type.String({ pattern: '^irk:[0-9a-fA-F]{32}$' }), {
        maxItems: 1000,
        description: 'the `irk:<key>` ids of the identity keys configured on the ESPresense nodes: only these are exempt from the new stable id limit'
      })
    ),
    maxPeoplePerM2: Type.Optional(
      Type.Number({
        minimum: 0.5,
        maximum: 10,
        default: 2,
        description:
          'people a square metre of shop floor can hold at most: a shop, a sector and a Wi-Fi sensor neighbourhood count no more than their area times this (a sender keeping invented addresses alive)'
      })
    ),
    coldStartQuietS: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 3600, default: 180, description: 'cold start: devices from the start weigh e^(-s/this) in people now till 3 newcomers settle; 0: off' })
    )
  },
  { additionalProperties: false, description: 'people counting: fixtures named or never taken for one, Wi-Fi presence, devices per person (docs/people-counting.md)' }
)

export const SiteSchema = Type.Object({
  type: Type.Literal('FeatureCollection'),
  storeId: StoreId({
    patternText: 'letters, digits and . _ - only (no spaces), not starting with __ nor a reserved name (constructor, toString...)'
  }),
  name: Type.Optional(Type.String()),
  timezone: Type.Optional(Type.String({ default: 'UTC' })),
  georef: Type.Optional(Type.Object({ origin: Position, bearingDeg: Type.Optional(Type.Number({ default: 0 })) }, { additionalProperties: false })),
  radio: Type.Optional(RadioSchema),
  zones: Type.Optional(ZoneParamsSchema),
  people: Type.Optional(PeopleParamsSchema),
  features: Type.Array(Type.Union([ShopFeature, SectorFeature, SensorFeature, BeaconFeature]))
})

export type SiteFile = Static<typeof SiteSchema>
export type ShopFeatureT = Static<typeof ShopFeature>
export type SectorFeatureT = Static<typeof SectorFeature>
export type SensorFeatureT = Static<typeof SensorFeature>
export type BeaconFeatureT = Static<typeof BeaconFeature>
export type Radio = Static<typeof RadioSchema>
export type Polygon = Static<typeof PolygonSchema>
export type RadioMapData = Static<typeof RadioMapSchema>
export type ZoneParams = Static<typeof ZoneParamsSchema>
export type PeopleParams = Static<typeof PeopleParamsSchema>

/** Every zone parameter at its default, read from ZoneParamsSchema (the one place defaults are written). */
export const defaultZoneParams: Readonly<Required<ZoneParams>> = Object.freeze(schemaDefaults(ZoneParamsSchema) as Required<ZoneParams>)

/** The `default` of each member of an object schema; throws at load time if one has none. */
function schemaDefaults(schema: { properties: Record<string, { default?: unknown }> }): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, member] of Object.entries(schema.properties)) {
    if (member.default === undefined) throw new Error(`schema member ${k} has no default`)
    out[k] = structuredClone(member.default)
  }
  return out
}
