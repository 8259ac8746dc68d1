// The pipeline's last stage each tick (pipeline.ts): people now per shop and sector from the
// positions placed and the presence engine's visits, published when it changes and at least every
// 10 s of event time, with footfall and today's visitors on that beat.
import type { PositionMessageT, OccupancyMessageT } from '../shared/messages.ts'
import type { PipelineOptions, PipelineSink } from './pipeline-io.ts'
import type { Footfall } from './presence/footfall.ts'
import type { People } from './presence/people.ts'
import type { PresenceEngine } from './presence/presence.ts'
import { sortPlaced } from './pipeline-stages.ts'

/** Occupancy and footfall go out at least this often, ms of event time. */
const BEAT_MS = 10_000

export class OccupancyStage {
  /** The occupancy last published (for the live dashboard). */
  lastMessage: OccupancyMessageT | null = null
  private lastKey = ''
  /** The next tick time at or after which occupancy and footfall are published unchanged. */
  private nextBeat = -Infinity

  constructor(
    private readonly o: PipelineOptions,
    private readonly sink: PipelineSink,
    private readonly people: People,
    private readonly footfall: Footfall,
    private readonly randomized: Set<string>,
    private readonly presence: PresenceEngine | null
  ) {}

  /** Tick t's occupancy from the positions it placed (at `at`, the time they describe). */
  run(t: number, at: number, placed: PositionMessageT[]): void {
    const { apps, anonymous, appAt, passersBy } = sortPlaced(at, placed, this.randomized, this.o, this.presence)
    this.people.setAppPositions(appAt)
    const p = this.people.now(at, apps, anonymous, passersBy)
    const occ: OccupancyMessageT = { ts: at, shops: p.shops, sectors: p.sectors, passersBy: p.passersBy, low: p.low, high: p.high, bySource: p.bySource, fixtures: p.fixtures }
    const key = JSON.stringify([occ.shops, occ.sectors, occ.passersBy, occ.low, occ.high, occ.bySource, occ.fixtures])
    // At least every 10 s of event time while nothing changes, whatever the tick period (or a
    // skipped idle stretch) makes of the ticks' times.
    const beat = t >= this.nextBeat
    if (beat) this.nextBeat = (Math.floor(t / BEAT_MS) + 1) * BEAT_MS
    if (key !== this.lastKey || beat) {
      this.lastKey = key
      this.lastMessage = occ
      this.sink.occupancy(occ)
    }
    if (beat) {
      this.footfall.expire(t)
      this.sink.footfall({ ts: t, ...this.footfall.counts(t), ...this.people.visitors(t) })
    }
  }
}
