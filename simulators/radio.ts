// Radio model for simulated sensors: log-distance path loss in 3-D (sensor heights, floors and the
// slabs between them), per-phone
// transmit offsets, per-sensor receive offsets, slow fading correlated over seconds (AR(1)),
// independent per-reading noise, sensitivity cut-off and packet loss.
// Log-distance model: Rappaport, Wireless Communications, §4.9; typical indoor exponents 1.6-3.3.
import type { Rng } from '../shared/rng.ts'
import type { SensorInfo } from '../shared/site.ts'
import type { RadioParamsT } from './scenario.ts'

export class RadioModel {
  private readonly fading = new Map<string, { v: number; t: number }>()
  private readonly sensorOffset = new Map<string, number>()

  constructor(
    readonly p: RadioParamsT,
    private readonly rng: Rng,
    sensors: Iterable<SensorInfo>
  ) {
    for (const s of sensors) this.sensorOffset.set(s.id, rng.fork('sensor-offset:' + s.id).normal(0, p.sensorSdDb))
  }

  /** Mean RSSI (no fading, no noise) at 3-D distance d metres, for a 1 m reference power. */
  meanRssi(ref: number, d: number): number {
    return ref - 10 * this.p.pathLossExponent * Math.log10(Math.max(d, 0.1))
  }

  /**
   * One received packet: integer dBm, or null when lost or below sensitivity.
   * `link` keys the fading process (one per person and sensor), `t` in ms.
   */
  receive(link: string, sensor: Pick<SensorInfo, 'id' | 'x' | 'y' | 'z' | 'floor'>, x: number, y: number, t: number, ref: number, txOffsetDb: number, floor = 0): number | null {
    // Heights count from the ground floor; every slab in between costs slabDb.
    const H = this.p.floorHeightM
    const d = Math.hypot(x - sensor.x, y - sensor.y, this.p.phoneHeightM + floor * H - sensor.z - sensor.floor * H)
    const slabs = Math.abs(floor - sensor.floor) * this.p.slabDb
    const f = this.fade(link, t)
    const rssi = this.meanRssi(ref, d) - slabs + txOffsetDb + (this.sensorOffset.get(sensor.id) ?? 0) + f + this.rng.normal(0, this.p.noiseSdDb)
    if (rssi < this.p.sensitivityDbm || this.rng.chance(this.p.lossProb)) return null
    return Math.min(0, Math.round(rssi))
  }

  private fade(link: string, t: number): number {
    const s = this.fading.get(link)
    if (s === undefined) {
      const v = this.rng.normal(0, this.p.fadingSdDb)
      this.fading.set(link, { v, t })
      return v
    }
    const rho = Math.exp(-Math.max(0, t - s.t) / (1000 * this.p.fadingTauS))
    s.v = rho * s.v + Math.sqrt(1 - rho * rho) * this.rng.normal(0, this.p.fadingSdDb)
    s.t = t
    return s.v
  }

  /** Forget a person's fading state once their trip is over (keeps memory flat on long runs). */
  forget(prefix: string, sensors: Iterable<string>): void {
    for (const s of sensors) this.fading.delete(prefix + '|' + s)
  }
}
