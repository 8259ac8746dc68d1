// Footfall: how many phones were around today. Wi-Fi phones mostly probe from randomized MACs
// that change every burst, so counting addresses counts one phone many times. Addresses are
// chained into phones by timing and 802.11 sequence-number continuity (many phones keep one
// counter across address changes), falling back to "same nearest sensor, right interval, no
// other candidate" when the counter restarted.

export interface FootfallCounts {
  date: string
  wifiDevices: number
  wifiAddresses: number
  bleDevices: number
}

/** One phone as far as can be told: the addresses it went by, chained. */
interface Chain {
  lastTs: number
  lastSeq: number | null
  sensor: string
  countedDay: string
}
interface Address {
  chain: Chain
  lastTs: number
  bestRssi: number
}

export interface FootfallOptions {
  /** A new address can continue a chain that went quiet at most this long ago, ms. */
  maxGapMs: number
  /** Sequence numbers may advance at most this much between bursts of one phone. */
  maxSeqJump: number
  /** Chains and addresses idle for longer are forgotten, ms. */
  forgetMs: number
}

export const defaultFootfallOptions: FootfallOptions = { maxGapMs: 300_000, maxSeqJump: 256, forgetMs: 3_600_000 }

export class Footfall {
  private readonly chains = new Set<Chain>()
  private readonly addresses = new Map<string, Address>()
  private readonly ble = new Set<string>()
  private date = ''
  private minute = NaN
  private wifiDevices = 0
  private wifiAddresses = 0

  constructor(
    private readonly dayOf: (ts: number) => string,
    private readonly o: FootfallOptions = defaultFootfallOptions
  ) {}

  private rollDay(ts: number): string {
    if (!Number.isFinite(ts)) return this.date
    // Local dates change only on a minute boundary in every time zone: look up once a minute.
    const minute = Math.floor(ts / 60_000)
    if (minute === this.minute) return this.date
    this.minute = minute
    const d = this.dayOf(ts)
    if (d !== this.date) {
      this.date = d
      this.wifiDevices = 0
      this.wifiAddresses = 0
      this.ble.clear()
    }
    return d
  }

  /** Forgets a BLE subject (erasure); true when it was counted today. */
  forget(subject: string): boolean {
    return this.ble.delete(subject)
  }

  has(subject: string): boolean {
    return this.ble.has(subject)
  }

  observeBle(subject: string, ts: number): void {
    this.rollDay(ts)
    if (this.ble.size < 1_000_000) this.ble.add(subject)
  }

  observeWifi(subject: string, randomized: boolean, seq: number | undefined, sensor: string, rssi: number, ts: number): void {
    const day = this.rollDay(ts)
    const s = seq ?? null
    const known = this.addresses.get(subject)
    if (known) {
      known.lastTs = Math.max(known.lastTs, ts)
      known.chain.lastTs = Math.max(known.chain.lastTs, ts)
      if (s !== null) known.chain.lastSeq = s
      if (rssi > known.bestRssi) {
        known.bestRssi = rssi
        known.chain.sensor = sensor
      }
      this.countChain(known.chain, day)
      return
    }
    this.wifiAddresses++
    const chain = (randomized ? this.continuation(s, sensor, ts) : null) ?? { lastTs: ts, lastSeq: s, sensor, countedDay: '' }
    this.chains.add(chain)
    chain.lastTs = Math.max(chain.lastTs, ts)
    chain.lastSeq = s ?? chain.lastSeq
    chain.sensor = sensor
    this.addresses.set(subject, { chain, lastTs: ts, bestRssi: rssi })
    this.countChain(chain, day)
  }

  private countChain(c: Chain, day: string): void {
    if (c.countedDay !== day) {
      c.countedDay = day
      this.wifiDevices++
    }
  }

  /** The chain a fresh randomized address most likely continues, or null. */
  private continuation(seq: number | null, sensor: string, ts: number): Chain | null {
    let bySeq: Chain | null = null
    let bestJump = Infinity
    const bySensor: Chain[] = []
    for (const c of this.chains) {
      const gap = ts - c.lastTs
      // Still transmitting under its current address within the last second: another phone.
      if (gap < 1000 || gap > this.o.maxGapMs) continue
      if (seq !== null && c.lastSeq !== null) {
        const jump = (seq - c.lastSeq + 4096) % 4096
        if (jump >= 1 && jump <= this.o.maxSeqJump && jump < bestJump) {
          bestJump = jump
          bySeq = c
        }
      }
      if (c.sensor === sensor) bySensor.push(c)
    }
    if (bySeq) return bySeq
    return bySensor.length === 1 ? bySensor[0] : null
  }

  /** Drops idle chains and addresses (addresses rotate forever; memory must not). */
  expire(ts: number): void {
    for (const [k, a] of this.addresses) if (ts - a.lastTs > this.o.forgetMs) this.addresses.delete(k)
    for (const c of this.chains) if (ts - c.lastTs > this.o.forgetMs) this.chains.delete(c)
  }

  counts(ts: number): FootfallCounts {
    const date = this.rollDay(ts)
    return { date, wifiDevices: this.wifiDevices, wifiAddresses: this.wifiAddresses, bleDevices: this.ble.size }
  }
}
