// Each receiver's spread against the typical receiver's, learned from fix residuals. Receivers
// differ: one behind a shelf, in a corner or facing a wall fades more than one with a clear view,
// and a calibration walk measures each one's residual spread. Online, the mean squared residual
// (in units of each reading's own sigma) of every sensor over many fixes, divided by the median
// sensor's, gives the same ratio: the fit shrinks every residual alike, so the ratio survives it.
// The ratio starts at 1 (pseudo-counts of typical evidence) and is bounded.

interface Acc {
  sum: number
  weight: number
}

/** Bounds of a learned spread ratio: no receiver is trusted nearly alone, nor nearly ignored. */
const MIN_SCALE = 0.6
const MAX_SCALE = 1.8

export class SpreadEvidence {
  private readonly acc = new Map<string, Acc>()
  private centreCache: number | null = null

  constructor(
    private readonly sensors: string[],
    private readonly priorCount: number,
    private readonly memory: number
  ) {}

  /** One residual of `sensor`, in units of its reading's modelled sigma. */
  add(sensor: string, z: number): void {
    if (!Number.isFinite(z)) return
    let a = this.acc.get(sensor)
    if (!a) {
      a = { sum: 0, weight: 0 }
      this.acc.set(sensor, a)
    }
    const keep = 1 - 1 / this.memory
    a.sum = a.sum * keep + z * z
    a.weight = a.weight * keep + 1
    this.centreCache = null
  }

  /** Mean squared residual, shrunk towards the typical one (1 in these units) by the prior. */
  private meanSquare(sensor: string, typical: number): number {
    const a = this.acc.get(sensor)
    return ((a?.sum ?? 0) + this.priorCount * typical) / ((a?.weight ?? 0) + this.priorCount)
  }

  /** The median sensor's mean squared residual. */
  private centre(): number {
    if (this.centreCache !== null) return this.centreCache
    const raw = this.sensors
      .map(id => {
        const a = this.acc.get(id)
        return a && a.weight > 0 ? a.sum / a.weight : NaN
      })
      .filter(Number.isFinite)
      .sort((a, b) => a - b)
    const h = raw.length >> 1
    this.centreCache = raw.length === 0 ? 1 : raw.length % 2 === 1 ? raw[h] : (raw[h - 1] + raw[h]) / 2
    return this.centreCache
  }

  /** The sensor's spread against the median sensor's. */
  scale(sensor: string): number {
    const c = this.centre()
    if (!(c > 0)) return 1
    return Math.max(MIN_SCALE, Math.min(MAX_SCALE, Math.sqrt(this.meanSquare(sensor, c) / c)))
  }

  snapshot(): Record<string, Acc> {
    return Object.fromEntries([...this.acc].map(([id, a]) => [id, { sum: a.sum, weight: a.weight }]))
  }

  restore(s: Record<string, Acc>): void {
    for (const [id, a] of Object.entries(s)) {
      if (this.sensors.includes(id) && Number.isFinite(a.sum) && Number.isFinite(a.weight) && a.sum >= 0 && a.weight >= 0) this.acc.set(id, { sum: a.sum, weight: a.weight })
    }
    this.centreCache = null
  }
}
