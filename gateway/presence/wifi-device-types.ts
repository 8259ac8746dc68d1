// What Wi-Fi device linking works with (wifi-devices.ts): a probe observation, a located burst, a
// device across its addresses, and the options with their defaults.
export interface WifiObservation {
  subject: string
  randomized: boolean
  seq?: number
  fp?: string
  sensor: string
  rssi: number
  ts: number
}

export interface Burst {
  ts: number
  x: number
  y: number
  floor: number
  shop: string | null
  sector: string | null
  maxRssi: number
  /** How far inside its shop's wall it was placed, m (0 outside every shop). */
  depth: number
  seq: number | null
  fp: string | null
  /** The sensor that heard it loudest (where a new device is counted against `newDevicesPerSensorMin`). */
  sensor: string
}

export interface WifiDevice {
  /** The address it used last (a subject hash): what /metrics lists for a fixture. */
  address: string
  /** A global (vendor) MAC: its address never changes, so no other address continues it. */
  stable: boolean
  firstTs: number
  /**
   * When its stay at this spot began: its first burst, or the stay of the device of its model it
   * took over from at the same spot (a chain that broke there just before: most often the same
   * always-on device, cut by a lost burst or one placed across the wall).
   */
  stayFrom: number
  /**
   * The device whose stay it took over, until that is sure: if that one is heard again after this
   * one's first burst, it had not gone and this one is another device (its stay starts with it);
   * once that one can no longer be continued, the takeover stands.
   */
  stayOf: WifiDevice | null
  lastTs: number
  bursts: number
  lastSeq: number | null
  fp: string | null
  last: Burst
  /** Sum of its bursts' places (a fixture's spot is their mean: one burst's place is a few metres off). */
  sumX: number
  sumY: number
  /** Bursts located inside a shop, and the last of them. */
  inShop: number
  lastInShop: Burst | null
  /** Bursts placed outside every shop since its last one inside (one is as often location error as a way out). */
  outRun: number
  firstInShopTs: number | null
  /**
   * Times of its bursts from a new address over the last `rateWindowMs` (a chain taking in new
   * addresses more often than one phone probes holds several; an address heard again is one radio).
   */
  recent: number[]
  /** Of `recent`, the bursts whose new address carried on its 802.11 counter (one radio for sure). */
  recentBySeq: number[]
  /**
   * Of `recent`, the bursts placed outside every shop: not phones in the shop. A chain that took in
   * addresses from the street (a sender there copying the shoppers' fingerprint) would count them
   * as more phones inside.
   */
  recentOut: number[]
  /** New addresses that continued it, and of them those that carried its counter on. */
  links: number
  seqLinks: number
  /** The largest counter step a new address of it took (a stranger's counter seldom falls within a few times it). */
  seqJump: number
  /**
   * Its counter is carried across address changes (most of its links did, at least two: one can
   * by chance): a new address that does not carry it on is another radio.
   */
  carries: boolean
  /** 10-minute slots it was heard in (fixture rule), the last day's only. */
  slots: Set<number>
  fixture: boolean
  /** App subject this phone was found walking with (votes per subject), and the winner. */
  votes: Map<string, number>
  pairedWith: string | null
  /** Local day it was counted as a visitor on (see people.ts). */
  countedDay: string
  /** Made just before its sensor was flooded, never heard again: most likely the flooding sender's, not counted. */
  suspect: boolean
  /** The one device that stands for every new address its sensor gave while flooded (see newcomers.ts). */
  flood: boolean
}

export interface WifiDeviceOptions {
  /** Frames of one address closer together than this belong to one burst, ms. */
  burstGapMs: number
  /** A phone probes again no sooner than this: a new address sooner is another device, ms. */
  minLinkGapMs: number
  /** A new address continues a device quiet at most this long (longest probe interval seen), ms. */
  maxLinkGapMs: number
  /** Sequence numbers advance at most this much between bursts of one phone. */
  maxSeqJump: number
  /** A new address continues a device only if it is heard within this of that device's last place, m. */
  maxLinkDistanceM: number
  /** Present while its last burst is at most this old (the longest usual probe interval plus slack), ms. */
  presenceMs: number
  /** Heard across this long, in most of its 10-minute slots: a fixture (staff, tills, computers), ms. */
  fixtureSpanMs: number
  /** Share of the 10-minute slots over its span a fixture is heard in. */
  fixtureCoverage: number
  /** Devices idle longer are forgotten (fixtures: a day longer), ms. */
  forgetMs: number
  /** A single burst this strong at some sensor, dBm, is a shopper's, not a passer-by's: counted at once. */
  strongDbm: number
  /** An app phone within this of a burst's place votes for the pair, m. */
  pairRadiusM: number
  /**
   * Added to a link's score when the new burst and the device's last are on either side of a
   * shop's wall (Infinity: never linked): a phone rarely crosses between bursts, a newcomer at
   * the door and a shopper just gone are often both near it.
   */
  wallPenalty: number
  /** A device heard inside across this long takes a burst back inside past the wall penalty (wifi-device-link.ts), ms. */
  settledMs: number
  /** A new device continues the stay of one of its model that went quiet at its spot at most this long before, ms. */
  stayGapMs: number
  /**
   * New devices one sensor (the loudest for their first burst) may give in a minute; past it the
   * sensor is flooded and its new addresses are taken for one device, a sender inventing them.
   */
  newDevicesPerSensorMin: number
  /** Wi-Fi devices held at most (memory, and the cost of linking a new address to one of them); the oldest goes first. */
  maxDevices: number
}

export const defaultWifiDeviceOptions: WifiDeviceOptions = {
  burstGapMs: 1000,
  minLinkGapMs: 20_000,
  maxLinkGapMs: 300_000,
  maxSeqJump: 256,
  maxLinkDistanceM: 12,
  presenceMs: 210_000,
  fixtureSpanMs: 4 * 3_600_000,
  fixtureCoverage: 0.7,
  forgetMs: 3_600_000,
  strongDbm: -50,
  pairRadiusM: 3,
  wallPenalty: Infinity,
  settledMs: 1_800_000,
  stayGapMs: 600_000,
  newDevicesPerSensorMin: 30,
  maxDevices: 20_000
}

export const SLOT_MS = 600_000
export const RATE_WINDOW_MS = 600_000
export const DAY_MS = 86_400_000

/** A device first heard in burst `b`, nothing learned about it yet; `stayFrom`/`stayOf`: the stay it carries on, if any. */
export function newWifiDevice(address: string, stable: boolean, b: Burst, stayFrom: number, stayOf: WifiDevice['stayOf']): WifiDevice {
  return {
    address,
    stable,
    firstTs: b.ts,
    stayFrom,
    stayOf,
    lastTs: b.ts,
    bursts: 0,
    lastSeq: null,
    fp: b.fp,
    last: b,
    sumX: 0,
    sumY: 0,
    inShop: 0,
    lastInShop: null,
    outRun: 0,
    firstInShopTs: null,
    recent: [],
    recentBySeq: [],
    recentOut: [],
    links: 0,
    seqLinks: 0,
    seqJump: 0,
    carries: false,
    slots: new Set(),
    fixture: false,
    votes: new Map(),
    pairedWith: null,
    countedDay: '',
    suspect: false,
    flood: false
  }
}
