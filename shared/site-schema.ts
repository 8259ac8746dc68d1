// Site file schema (contract §1). The TypeBox schema is the single source of the TypeScript type.
import { Type, type Static } from '@sinclair/typebox'

const Id = Type.String({ minLength: 1, maxLength: 200 })
const Floor = Type.Optional(Type.Integer({ description: 'floor number, default 0' }))
const Position = Type.Tuple([Type.Number(), Type.Number()])
const Ring = Type.Array(Position, { minItems: 4 })

export const PolygonSchema = Type.Object({
  type: Type.Literal('Polygon'),
  coordinates: Type.Array(Ring, { minItems: 1 })
})
export const PointSchema = Type.Object({ type: Type.Literal('Point'), coordinates: Position })

/** Extension: per-sensor residual map written by instore-calibrate (grid of dB corrections). */
export const RadioMapSchema = Type.Object({
  x0: Type.Number(), y0: Type.Number(), cell: Type.Number({ exclusiveMinimum: 0 }),
  nx: Type.Integer({ minimum: 2, maximum: 4000 }), ny: Type.Integer({ minimum: 2, maximum: 4000 }),
  values: Type.Array(Type.Number({ minimum: -60, maximum: 60 })),
  /** Kernel weight of calibration samples per node: where the walk went (people can walk there). */
  support: Type.Optional(Type.Array(Type.Number({ minimum: 0 })))
})

export const ShopProps = Type.Object({
  kind: Type.Literal('shop'), id: Id, name: Type.Optional(Type.String()), floor: Floor
})
export const SectorProps = Type.Object({
  kind: Type.Literal('sector'), id: Id, shop: Id, name: Type.Optional(Type.String()), floor: Floor
})
export const SensorProps = Type.Object({
  kind: Type.Literal('sensor'),
  id: Id,
  name: Type.Optional(Type.String()),
  radios: Type.Optional(Type.Array(Type.Union([Type.Literal('ble'), Type.Literal('wifi')]), { minItems: 1 })),
  z: Type.Optional(Type.Number({ minimum: -10, maximum: 100, description: 'antenna height, m (default 2.5)' })),
  offsetDb: Type.Optional(Type.Number({ minimum: -40, maximum: 40, description: 'added to every RSSI this sensor reports, dB (a sensor that reads 3 dB low takes +3)' })),
  rssiAt1m: Type.Optional(Type.Number({ minimum: -120, maximum: 0, description: 'overrides radio.rssiAt1m, dBm' })),
  pathLossExponent: Type.Optional(Type.Number({ minimum: 0.5, maximum: 6, description: 'overrides radio.pathLossExponent' })),
  mac: Type.Optional(Type.String({ description: 'the sensor\'s own MAC (maps foreign formats, e.g. Meraki APs)' })),
  radioMap: Type.Optional(RadioMapSchema),
  /** Other names this sensor goes by: an ESPresense node, an OpenMQTTGateway name. */
  aliases: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 20 })),
  floor: Floor
})
export const BeaconProps = Type.Object({
  kind: Type.Literal('beacon'),
  id: Id,
  name: Type.Optional(Type.String()),
  rssiAt1m: Type.Optional(Type.Number({ minimum: -120, maximum: 0 })),
  z: Type.Optional(Type.Number({ minimum: -10, maximum: 100 })),
  floor: Floor
})

export const ShopFeature = Type.Object({ type: Type.Literal('Feature'), properties: ShopProps, geometry: PolygonSchema })
export const SectorFeature = Type.Object({ type: Type.Literal('Feature'), properties: SectorProps, geometry: PolygonSchema })
export const SensorFeature = Type.Object({ type: Type.Literal('Feature'), properties: SensorProps, geometry: PointSchema })
export const BeaconFeature = Type.Object({ type: Type.Literal('Feature'), properties: BeaconProps, geometry: PointSchema })

export const featureSchemas = { shop: ShopFeature, sector: SectorFeature, sensor: SensorFeature, beacon: BeaconFeature } as const

export const RadioSchema = Type.Object({
  pathLossExponent: Type.Number({ minimum: 0.5, maximum: 6, default: 2.2 }),
  rssiAt1m: Type.Number({ minimum: -120, maximum: 0, default: -59, description: 'BLE RSSI at 1 m, dBm' }),
  wifiRssiAt1m: Type.Optional(Type.Number({ minimum: -120, maximum: 0, description: 'Wi-Fi probe RSSI at 1 m, dBm (default rssiAt1m + 14)' })),
  tagHeightM: Type.Optional(Type.Number({ minimum: 0, maximum: 5, description: 'height of a carried phone, m (default 1.2)' })),
  shadowingDb: Type.Optional(Type.Number({ minimum: 0.5, maximum: 20, description: 'per-reading RSSI spread, dB (default 6)' })),
  accuracyScale: Type.Optional(Type.Number({ minimum: 0.25, maximum: 5, description: 'factor on the published accuracyM, measured by instore-calibrate (default 1)' }))
})

/** Extension: zone hysteresis per site (defaults in gateway/zones.ts). */
export const ZoneParamsSchema = Type.Object({
  /** Evidence needed before a shop entry counts, s. */
  shopEnterS: Type.Optional(Type.Number({ minimum: 0, maximum: 600 })),
  /** Time without evidence before a shop exit, s. */
  shopExitS: Type.Optional(Type.Number({ minimum: 1, maximum: 3600 })),
  sectorEnterS: Type.Optional(Type.Number({ minimum: 0, maximum: 600 })),
  sectorExitS: Type.Optional(Type.Number({ minimum: 1, maximum: 3600 })),
  /** Sector entry from the aisle needs the position this many accuracy radii inside the boundary. */
  enterMarginSigmas: Type.Optional(Type.Number({ minimum: 0, maximum: 5 })),
  /** Shop entry likewise (deeper: passers-by walk right along the shop front). */
  shopEnterMarginSigmas: Type.Optional(Type.Number({ minimum: 0, maximum: 5 })),
  /**
   * Shop entry also needs the radio over the candidate's fixes, with one transmit offset for all of
   * them, to make inside this many times likelier than outside (gateway/zone-odds.ts); 0 turns the test off.
   */
  shopEnterOdds: Type.Optional(Type.Number({ minimum: 0, maximum: 1e6 })),
  /**
   * Once the radio makes inside this many times likelier, any fix inside the shop's outline (not
   * only one a margin inside) is evidence for the entry; 0 turns this off.
   */
  shopEnterSureOdds: Type.Optional(Type.Number({ minimum: 0, maximum: 1e12 })),
  /** A shop entry the radio test weighs survives gaps this long in its evidence, s. */
  shopEnterGapS: Type.Optional(Type.Number({ minimum: 0, maximum: 600 })),
  /**
   * A visit is held back this long after it began, then tested every 5 s (gateway/street-walk.ts:
   * straight walks outside the shop against walks anywhere over the device's last half minute)
   * until it is announced or dropped; its events wait with it; 0 announces every visit at once, s.
   */
  shopHoldS: Type.Optional(Type.Number({ minimum: 0, maximum: 600 })),
  /** A held visit the test has not told by this long after it began is announced, unless that test took it for a passer-by, s. */
  shopHoldMaxS: Type.Optional(Type.Number({ minimum: 0, maximum: 600 })),
  /**
   * Under this gap (-2 ln L) between a straight walk outside and one anywhere, a test takes the
   * held visit for a passer-by's; two such tests in a row, or one at its end, drop it.
   */
  streetWalkGap: Type.Optional(Type.Number({ minimum: 0, maximum: 1e6 })),
  /** At or above this gap between a straight walk outside and a walk anywhere that may stop, a shopper's: the held visit is announced. */
  streetWalkSureGap: Type.Optional(Type.Number({ minimum: 0, maximum: 1e6 })),
  /**
   * Floors are reached through the building: a device that comes from a visit on another floor
   * (its last fix there at most this long ago) enters this floor's shop without the radio test or
   * the hold, and a visit confirmed on one floor makes the device's unconfirmed run through a shop
   * on the floor it came from, ended at most this long before, a visit too; 0 turns both off, s.
   */
  floorChangeS: Type.Optional(Type.Number({ minimum: 0, maximum: 600 })),
  /** Moving straight from one sector into another needs this many (the device was just next door). */
  switchMarginSigmas: Type.Optional(Type.Number({ minimum: 0, maximum: 5 })),
  /** A position this many accuracy radii outside a sector still counts as staying in it. */
  exitMarginSigmas: Type.Optional(Type.Number({ minimum: 0, maximum: 5 })),
  /**
   * Likewise for a shop. Its default is 0: the exit timeout already keeps a visit through a few
   * seconds outside, and a margin kept a shopper walking away along the street in the shop.
   */
  shopExitMarginSigmas: Type.Optional(Type.Number({ minimum: 0, maximum: 5 })),
  /** Margins never exceed this, m. */
  maxMarginM: Type.Optional(Type.Number({ minimum: 0, maximum: 50 })),
  /** sector.dwell fires as a stay crosses each of these, s. */
  dwellThresholdsS: Type.Optional(Type.Array(Type.Number({ minimum: 1 }), { maxItems: 50 }))
})

/** Extension: people counting (gateway/people.ts); every member optional. */
export const PeopleParamsSchema = Type.Object({
  /** Always-on devices to leave out of people counts from the start: MAC addresses or `h:` subjects. */
  fixtures: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 1000 })),
  /** Devices never to take for fixtures however long they stay (MACs or `h:` subjects). */
  notFixtures: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 1000 })),
  /** A Wi-Fi device heard across this long, in most of its 10-minute slots, is a fixture, s (default 14400). */
  fixtureAfterS: Type.Optional(Type.Number({ minimum: 600, maximum: 86_400 })),
  /** A Wi-Fi device counts as here while its last probe burst is at most this old, s (default 210). */
  presenceS: Type.Optional(Type.Number({ minimum: 30, maximum: 3600 })),
  /** Wi-Fi devices per visitor on average (phones plus watches and tablets), from a manual count (default 1). */
  devicesPerPerson: Type.Optional(Type.Number({ minimum: 1, maximum: 5 }))
})

export const SiteSchema = Type.Object({
  type: Type.Literal('FeatureCollection'),
  storeId: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.-]+$' }),
  name: Type.Optional(Type.String()),
  timezone: Type.Optional(Type.String({ default: 'UTC' })),
  georef: Type.Optional(Type.Object({ origin: Position, bearingDeg: Type.Optional(Type.Number()) })),
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
