// MQTT payload schemas (contract §2, §4). Each TypeBox schema is the single source of its type.
import { Type, type Static } from '@sinclair/typebox'

/** RSSI bounds of contract §2, dBm. */
export const RSSI_MIN = -127
export const RSSI_MAX = 0

export const BleReading = Type.Object({
  t: Type.Literal('ble'),
  id: Type.String({ minLength: 1, maxLength: 128 }),
  rssi: Type.Number(),
  ts: Type.Optional(Type.Number()),
  tx: Type.Optional(Type.Number({ minimum: -127, maximum: 20 })),
  /** Extension: the advertiser's MAC beside an id many devices share (keys the anonymous device). */
  mac: Type.Optional(Type.String({ minLength: 12, maxLength: 17 })),
  /** Extension: whether the id's address is a random one (BLE address type; OpenMQTTGateway `mac_type`). */
  random: Type.Optional(Type.Boolean())
})
export const WifiReading = Type.Object({
  t: Type.Literal('wifi'),
  mac: Type.String({ minLength: 12, maxLength: 17 }),
  rssi: Type.Number(),
  ts: Type.Optional(Type.Number()),
  seq: Type.Optional(Type.Integer({ minimum: 0, maximum: 4095 })),
  ch: Type.Optional(Type.Integer({ minimum: 1, maximum: 233 }))
})
export const ReadingsBatch = Type.Object({
  ts: Type.Optional(Type.Number()),
  readings: Type.Array(Type.Union([BleReading, WifiReading]), { maxItems: 2000 })
})
export const ScansMessage = Type.Object({
  ts: Type.Optional(Type.Number()),
  beacons: Type.Array(Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }), rssi: Type.Number() }), { maxItems: 500 })
})

export const PositionMessage = Type.Object({
  subject: Type.String(),
  ts: Type.Number(),
  x: Type.Number(),
  y: Type.Number(),
  floor: Type.Integer(),
  accuracyM: Type.Number(),
  shop: Type.Union([Type.String(), Type.Null()]),
  sector: Type.Union([Type.String(), Type.Null()]),
  source: Type.Union([Type.Literal('ble'), Type.Literal('wifi')])
})
export const OccupancyMessage = Type.Object({
  ts: Type.Number(),
  shops: Type.Record(Type.String(), Type.Integer()),
  sectors: Type.Record(Type.String(), Type.Integer()),
  passersBy: Type.Integer()
})

export type BleReadingT = Static<typeof BleReading>
export type WifiReadingT = Static<typeof WifiReading>
export type ReadingsBatchT = Static<typeof ReadingsBatch>
export type ScansMessageT = Static<typeof ScansMessage>
export type PositionMessageT = Static<typeof PositionMessage>
export type OccupancyMessageT = Static<typeof OccupancyMessage>
