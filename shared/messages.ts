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
  ch: Type.Optional(Type.Integer({ minimum: 1, maximum: 233 })),
  /**
   * Extension: a fingerprint of the probe's information elements (supported rates, HT/VHT
   * capabilities, extended capabilities...), as the sniffer hashes them: the same for one phone
   * model and OS across its address changes.
   */
  fp: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9:_.-]+$' }))
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
const ZoneCounts = Type.Object({ shops: Type.Record(Type.String(), Type.Integer()), sectors: Type.Record(Type.String(), Type.Integer()) })
export const OccupancyMessage = Type.Object({
  ts: Type.Number(),
  shops: Type.Record(Type.String(), Type.Integer()),
  sectors: Type.Record(Type.String(), Type.Integer()),
  passersBy: Type.Integer(),
  /** Extension: the range the people counts are likely in (docs/people-counting.md). */
  low: Type.Optional(ZoneCounts),
  high: Type.Optional(ZoneCounts),
  /** Extension: the counts per source (app phones, anonymous BLE devices, Wi-Fi phones), each person once. */
  bySource: Type.Optional(Type.Object({ app: ZoneCounts, ble: ZoneCounts, wifi: ZoneCounts })),
  /** Extension: always-on devices heard now, left out of every count. */
  fixtures: Type.Optional(Type.Integer())
})

/** `instore/<storeId>/footfall` (extension, retained): the local day's counts so far. */
export const FootfallMessage = Type.Object({
  ts: Type.Number(),
  date: Type.String(),
  /** Wi-Fi devices (addresses chained into phones), fixtures and passers-by included. */
  wifiDevices: Type.Integer(),
  /** Distinct Wi-Fi addresses heard. */
  wifiAddresses: Type.Integer(),
  /** Distinct BLE devices with a stable id heard. */
  bleDevices: Type.Integer(),
  /** Visitors: people counted in a shop today (Wi-Fi phones, app phones and anonymous BLE devices, each once; fixtures and passers-by left out). */
  visitors: Type.Optional(Type.Integer()),
  /** The same per local hour of arrival ("09": ...). */
  visitorsByHour: Type.Optional(Type.Record(Type.String(), Type.Integer())),
  wifiVisitors: Type.Optional(Type.Integer()),
  appVisitors: Type.Optional(Type.Integer()),
  /** Anonymous BLE devices (rotating addresses chained) counted in a shop today. */
  bleVisitors: Type.Optional(Type.Integer()),
  /** Dwell of Wi-Fi visitors who left today, s: count, median, 90th percentile, histogram by minutes ("5-15": n). */
  dwell: Type.Optional(
    Type.Object({
      n: Type.Integer(),
      medianS: Type.Union([Type.Number(), Type.Null()]),
      p90S: Type.Union([Type.Number(), Type.Null()]),
      buckets: Type.Record(Type.String(), Type.Integer())
    })
  )
})

export type BleReadingT = Static<typeof BleReading>
export type WifiReadingT = Static<typeof WifiReading>
export type ReadingsBatchT = Static<typeof ReadingsBatch>
export type ScansMessageT = Static<typeof ScansMessage>
export type PositionMessageT = Static<typeof PositionMessage>
export type OccupancyMessageT = Static<typeof OccupancyMessage>
export type FootfallMessageT = Static<typeof FootfallMessage>
