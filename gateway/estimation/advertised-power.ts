// What a phone's advertised measured power (contract §2 `tx`, dBm at 1 m) says about its transmit
// offset, learned from the phones themselves. A figure like -59 from an app or a tag is a claim (a
// per-model table, a default never calibrated, a tag's own calibration); how far to trust it here
// is measured online, from how well it goes with the offsets phones settle on from their fixes.
//
// A settled offset is shrunk toward the site's (the solver's offset prior) and noisy, so it cannot
// stand in for the real one; its correlation with `tx` can: shrinking does not change it, and
// noise only lowers it, so the prior it gives errs wide. For phones whose offsets spread by s
// (tracker `offsetSdDb`), a figure correlated ρ with them gives the offset
//   N(site offset + ρ·s·(tx - mean tx)/sd tx, s²·(1 - ρ²)).
// Where `tx` says nothing (every phone claims -59), ρ is near 0 and the prior stays as it was.

export interface OffsetPrior {
  mean: number
  sd: number
}

export interface AdvertisedPowerState {
  n: number
  txMean: number
  offsetMean: number
  txVar: number
  offsetVar: number
  cov: number
}

/** Phones with `tx` and a settled offset before the figure is trusted at all. */
const MIN_PHONES = 30
/** Weight of a new phone once past the first ones: the last hundred or so phones count. */
const RATE = 0.01
/** The prior never narrows below this share of the population spread. */
const MIN_SHARE = 0.25

export class AdvertisedPower {
  private s: AdvertisedPowerState = { n: 0, txMean: 0, offsetMean: 0, txVar: 0, offsetVar: 0, cov: 0 }

  /**
   * @param rssiAt1m the site's BLE power at 1 m, dBm (what an offset of 0 means)
   * @param populationSdDb the spread of phones' offsets, dB (tracker `offsetSdDb`)
   */
  constructor(
    private readonly rssiAt1m: number,
    private readonly populationSdDb: number
  ) {}

  /**
   * A phone that advertises `tx` and whose own offset has settled at `offset` (once per phone),
   * while phones here typically transmit `siteOffset`.
   */
  observe(tx: number, offset: number, siteOffset: number): void {
    if (!Number.isFinite(offset) || this.implausible(tx, siteOffset)) return
    const s = this.s
    const w = Math.max(RATE, 1 / ++s.n)
    const dt = tx - s.txMean
    const dof = offset - s.offsetMean
    s.txMean += w * dt
    s.offsetMean += w * dof
    // Exponentially weighted (co)variances (West's update: exact for the plain mean at w = 1/n).
    s.txVar = (1 - w) * (s.txVar + w * dt * dt)
    s.offsetVar = (1 - w) * (s.offsetVar + w * dof * dof)
    s.cov = (1 - w) * (s.cov + w * dt * dof)
  }

  /**
   * The offset prior of a phone that advertises `tx`, or null: while the figure is not yet
   * trusted here, when it goes with no offset, or when it is far from what phones here claim (four
   * spreads).
   */
  prior(tx: number | undefined, siteOffset: number): OffsetPrior | null {
    const s = this.s
    if (tx === undefined || s.n < MIN_PHONES || !(s.txVar > 0) || !(s.offsetVar > 0) || this.implausible(tx, siteOffset)) return null
    const rho = s.cov / Math.sqrt(s.txVar * s.offsetVar)
    const z = (tx - s.txMean) / Math.sqrt(s.txVar)
    if (!(rho > 0) || Math.abs(z) > 4) return null
    return { mean: siteOffset + rho * this.populationSdDb * z, sd: this.populationSdDb * Math.max(MIN_SHARE, Math.sqrt(1 - Math.min(1, rho * rho))) }
  }

  /**
   * A claim no phone here could make: five population spreads off what a typical phone here
   * reads at 1 m (an Eddystone power at 0 m, a placeholder like -127). It would teach the
   * statistics nothing but noise, from the very first phone on.
   */
  private implausible(tx: number, siteOffset: number): boolean {
    return !Number.isFinite(tx) || Math.abs(tx - (this.rssiAt1m + siteOffset)) > 5 * this.populationSdDb
  }

  snapshot(): AdvertisedPowerState {
    return { ...this.s }
  }

  restore(s: AdvertisedPowerState | undefined): void {
    if (s === undefined || typeof s !== 'object') return
    const v = [s.n, s.txMean, s.offsetMean, s.txVar, s.offsetVar, s.cov]
    if (!v.every(x => typeof x === 'number' && Number.isFinite(x)) || s.n < 0 || s.txVar < 0 || s.offsetVar < 0) return
    this.s = { n: s.n, txMean: s.txMean, offsetMean: s.offsetMean, txVar: s.txVar, offsetVar: s.offsetVar, cov: s.cov }
  }
}
