// The phones' offsets against the beacons' models for the scan grid (scan-grid.ts), learned so
// that no phone can poison the others or itself: each reading moves its phone's offset by a
// residual clipped to a few sigmas, a phone's offset stays within a plausible distance of the
// phones' common one, and the common offset is the median of the phones' own (one vote a phone,
// however much it sends), itself bounded around the site's rssiAt1m.

/** Width of a bin of the phones' offsets the median is taken over, dB. */
const BIN_DB = 0.5
/** Readings after which a phone's offset votes in the common one. */
const SETTLED_READINGS = 10
/**
 * A phone's offset is a running mean over about this many of its readings (a few scans): part of
 * it is the holder's body, which changes as they turn round or move the phone, and an offset that
 * remembered the whole visit would average those away.
 */
const MAX_READINGS = 20

export interface OffsetOptions {
  /** How far a phone's offset may stand from the phones' common one, dB. */
  maxPhoneOffsetDb: number
  /** How far the common offset may stand from the site's rssiAt1m, dB. */
  maxCommonOffsetDb: number
  /** A reading's residual moves an offset by at most this, dB (a few sigmas of a reading). */
  clipDb: number
  /** A phone's own offset leans on the common one as if it had this many readings. */
  priorWeight: number
}

/** What the offsets keep of one phone (held in its grid, scan-grid.ts). */
export interface PhoneOffset {
  /** Sum of the phone's clipped residuals and their count. */
  sum: number
  n: number
  /** The bin its vote is in, or -1 while it has none. */
  bin: number
}

export const newPhoneOffset = (): PhoneOffset => ({ sum: 0, n: 0, bin: -1 })

export class PhoneOffsets {
  private readonly votes: Float64Array
  private voters = 0
  private readonly half: number

  constructor(readonly o: OffsetOptions) {
    this.half = Math.ceil(o.maxCommonOffsetDb / BIN_DB)
    this.votes = new Float64Array(2 * this.half + 1)
  }

  /** The phones' common offset, dB: the median of the settled phones' offsets (0, the site's model, before any has settled). */
  get common(): number {
    return this.median(-1)
  }

  /** The median of the votes but the one in bin `except` (-1: all of them); 0 where there are none. */
  private median(except: number): number {
    const voters = this.voters - (except >= 0 ? 1 : 0)
    if (voters <= 0) return 0
    let seen = 0
    for (let i = 0; i < this.votes.length; i++) {
      seen += this.votes[i] - (i === except ? 1 : 0)
      if (seen >= voters / 2) return (i - this.half) * BIN_DB
    }
    return 0
  }

  /**
   * The phone's offset, dB: its mean clipped residual leaning on the other phones' common offset,
   * within `maxPhoneOffsetDb` of it. Alone (no other phone has voted) a phone leans on nothing:
   * the site's model is what its readings are testing.
   */
  of(p: PhoneOffset): number {
    const alone = this.voters - (p.bin >= 0 ? 1 : 0) === 0
    const c = this.median(p.bin)
    const own = alone ? (p.n > 0 ? p.sum / p.n : 0) : (p.sum + this.o.priorWeight * c) / (p.n + this.o.priorWeight)
    const b = this.o.maxCommonOffsetDb
    const m = this.o.maxPhoneOffsetDb
    if (alone) return Math.min(b + m, Math.max(-b - m, own))
    return Math.min(c + m, Math.max(c - m, own))
  }

  /**
   * One heard reading's residual against the model at the phone's estimated place, dB, with its
   * weight (0..1: less where the place is uncertain, which the residual then also holds).
   */
  learn(p: PhoneOffset, residual: number, weight = 1): void {
    if (!Number.isFinite(residual) || !(weight > 0)) return
    const now = this.of(p)
    const w = Math.min(1, weight)
    if (p.n + w > MAX_READINGS) {
      const keep = (MAX_READINGS - w) / p.n
      p.sum *= keep
      p.n *= keep
    }
    p.sum += w * (now + Math.min(this.o.clipDb, Math.max(-this.o.clipDb, residual - now)))
    p.n += w
    if (p.n >= SETTLED_READINGS) this.vote(p, this.of(p))
  }

  /** The phone is gone (expired, evicted, erased): its vote goes with it. */
  drop(p: PhoneOffset): void {
    if (p.bin < 0) return
    this.votes[p.bin]--
    this.voters--
    p.bin = -1
  }

  private vote(p: PhoneOffset, offset: number): void {
    const bin = Math.min(2 * this.half, Math.max(0, Math.round(offset / BIN_DB) + this.half))
    if (bin === p.bin) return
    this.drop(p)
    this.votes[bin]++
    this.voters++
    p.bin = bin
  }
}
