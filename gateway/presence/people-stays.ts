// The longest plausible visit (people.ts): a Wi-Fi device here longer is most likely a fixture not
// learned yet. Learned from the stays of devices that came and went: half as long again as their
// 95th percentile; a prior until enough stays are seen.

/** Recent stays it is learned from (a ring, across days). */
export const STAY_SAMPLE = 1000

export class LongStay {
  private readonly stays: number[] = []
  private at = 0
  /** The longest plausible visit now, ms. */
  ms: number

  constructor(
    private readonly prior: number,
    private readonly minStays: number,
    private readonly factor: number,
    /** Never below this: a stranger's short stays must not make every shopper a fixture. */
    private readonly floor: number
  ) {
    this.ms = prior
  }

  /** Whether enough stays were seen to learn the figure from them. */
  learned(): boolean {
    return this.stays.length >= this.minStays
  }

  /** The stays it learned from, oldest first (kept across a restart: people-learned.ts). */
  kept(): number[] {
    return [...this.stays.slice(this.at), ...this.stays.slice(0, this.at)]
  }

  /** Stays an earlier run learned from, oldest first. */
  restore(stays: number[]): void {
    for (const ms of stays.slice(-STAY_SAMPLE)) this.learn(ms)
  }

  /**
   * Stays far beyond the current figure (broken fixture chains) are not learned from; within twice
   * it or the prior, so that the figure can grow back when visits do (never locked in low).
   */
  learn(ms: number): void {
    if (ms > 2 * Math.max(this.ms, this.prior)) return
    if (this.stays.length < STAY_SAMPLE) this.stays.push(ms)
    else {
      this.stays[this.at] = ms
      this.at = (this.at + 1) % STAY_SAMPLE
    }
    if (this.stays.length < this.minStays) return
    const sorted = [...this.stays].sort((a, b) => a - b)
    this.ms = Math.max(this.floor, this.factor * sorted[Math.floor(0.95 * (sorted.length - 1))])
  }
}
