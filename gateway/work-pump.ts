// The gateway's work loop: messages go into the pipeline as they arrive (`take`, cheap and
// bounded), and the ticks and estimates they cause run here in bounded slices that yield to the
// event loop and wait while too many publishes are in flight. A reading after a long gap, or a
// burst, never holds the process for long or queues output without a bound; the slices change
// nothing in the output (pipeline.ts `work`).
import type { Bus, MessageOrigin } from './io/bus.ts'
import type { Pipeline } from './pipeline.ts'

/** Ticks one slice of pipeline work runs at most before yielding to the event loop. */
const SLICE_TICKS = 50
/** Publishes in flight at most before the pipeline waits (it resumes at half). */
const MAX_INFLIGHT = 256
/** Positions one slice publishes before it yields and waits for publishing room (checked between ticks). */
const SLICE_POSITIONS = MAX_INFLIGHT
/**
 * Broker acknowledgements held while the pipeline works, at most (see `accept`): aedes reads no
 * more from a sender whose messages are not acknowledged, so this is one socket read per sender.
 * Past it (many senders at once) the inbox bound applies.
 */
const MAX_HELD_ACKS = 5000
/** Through an external broker, messages waiting in the pipeline before acknowledgements are held (`holdAbove`). */
export const EXTERNAL_HOLD_ABOVE = 1000

export class WorkPump {
  /** Resolves when the loop running now (if any) has ended. */
  done: Promise<void> = Promise.resolve()
  /** The last progress of the loop, wall ms (for /healthz: readings waiting and none processed). */
  lastWorkAt = 0
  private running = false
  private dones: Array<() => void> = []
  /** Publishes handed to the bus and not yet taken, and who waits for room. */
  private inflight = 0
  private roomWaiters: Array<() => void> = []
  private stopped = false
  /**
   * Messages waiting in the pipeline before acknowledgements are held (0: always). Through an
   * external broker the gateway acknowledges at once while it keeps up: a broker queues only so
   * much for a client that does not acknowledge (Mosquitto drops past `max_queued_messages`), so
   * it is held back only when the gateway has fallen behind.
   */
  holdAbove = 0

  /** `failed` is told of anything unexpected: one bad message must never stop the gateway. */
  constructor(
    private readonly pipeline: () => Pipeline | null,
    private readonly failed: (err: Error, topic?: string) => void
  ) {}

  /**
   * Takes one message into the pipeline and starts the loop. `done` is called once the pipeline
   * is idle again, so the embedded broker holds the sender back meanwhile.
   */
  accept(topic: string, payload: Buffer, done?: () => void, from?: MessageOrigin): void {
    try {
      this.pipeline()?.take(topic, payload, from)
    } catch (err) {
      this.failed(err as Error, topic)
    }
    if (done) {
      if (this.dones.length < MAX_HELD_ACKS && (this.pipeline()?.backlog ?? 0) >= this.holdAbove) this.dones.push(done)
      else done()
    }
    this.kick()
  }

  /** Starts the loop unless it runs (the wall clock's timer, positions placed directly). */
  kick(): void {
    if (!this.running) void this.pump()
  }

  /** Publishes without waiting, counting what is in flight (see `room`). */
  publish(bus: Bus, topic: string, body: string, opts: { qos: 0 | 1; retain?: boolean }): void {
    this.inflight++
    bus
      .publish(topic, body, opts)
      .catch(() => {})
      .finally(() => {
        this.inflight--
        if (this.inflight <= MAX_INFLIGHT / 2) {
          const w = this.roomWaiters
          this.roomWaiters = []
          for (const r of w) r()
        }
      })
  }

  /** A stop must not wait on a broker that no longer takes publishes. */
  stopping(): void {
    this.stopped = true
    for (const r of this.roomWaiters.splice(0)) r()
  }

  private async pump(): Promise<void> {
    const p = this.pipeline()
    if (!p || this.running) return
    this.running = true
    let release: () => void = () => {}
    this.done = new Promise<void>(resolve => {
      release = resolve
    })
    try {
      for (;;) {
        let idle = true
        try {
          idle = p.work(SLICE_TICKS, SLICE_POSITIONS)
        } catch (err) {
          this.failed(err as Error)
        }
        this.lastWorkAt = Date.now()
        if (idle) break
        await this.room()
        await new Promise<void>(resolve => setImmediate(resolve))
      }
    } finally {
      this.running = false
      const dones = this.dones
      this.dones = []
      for (const d of dones) d()
      release()
    }
  }

  /** Resolves once the broker has taken enough of what was published (its and its subscribers' backpressure). */
  private async room(): Promise<void> {
    if (this.inflight <= MAX_INFLIGHT || this.stopped) return
    await new Promise<void>(resolve => this.roomWaiters.push(resolve))
  }
}
