// The gateway's own publishes into its embedded aedes broker, kept in order.
//
// aedes numbers each packet when `publish` is called (aedes-packet's brokerCounter) and each client
// forwards a packet only if its number is above the last it forwarded (lib/client.js `dedupe`, meant
// for a packet that reaches it twice through a cluster). A QoS 1 or retained packet first waits on
// the persistence (storing the retained message, looking up offline sessions: promises), a QoS 0
// one is forwarded at once. So a retained occupancy message published just before the next tick's
// positions was numbered before them and reached a client that takes both after them: dropped as a
// duplicate, without a trace (issue 32, s12: a subscriber to positions and occupancy got 165 of
// 2,963 occupancy messages of a Wi-Fi store replayed in event time; events, QoS 1, are exposed the
// same way). Here a publish waits until every QoS 1 or retained one before it has been handed to
// the subscribers (not until they have read it: a slow reader must not hold the others back).
import type { PublishPacket } from 'aedes'

/** What of aedes is used here: `publish`, and `subscribe` in-process (its listeners run in turn, synchronously, for each packet). */
export interface Publishes {
  publish(packet: PublishPacket, done: (err?: Error) => void): void
  subscribe(topic: string, listener: (packet: PublishPacket, cb: () => void) => void, done: () => void): void
}

export class OrderedPublisher {
  /** The payload of the QoS 1 or retained publish on its way through the persistence: later ones wait. */
  private slow: Buffer | null = null
  private readonly waiting: Array<() => void> = []

  /**
   * Listens in-process to every topic, to learn when a slow packet reaches the subscribers: every
   * client's listener is called in the same synchronous pass (mqemitter), so once it is over each
   * has numbered the packet in, and the next publish may go. Before the first publish.
   */
  async attach(b: Publishes): Promise<void> {
    await new Promise<void>(resolve =>
      b.subscribe(
        '#',
        (packet, cb) => {
          if (this.slow !== null && packet.payload === this.slow) queueMicrotask(() => this.handedOver())
          cb()
        },
        resolve
      )
    )
  }

  /** Publishes `packet` once those before it are handed over; resolves when the broker has delivered it. */
  async publish(broker: () => Publishes | null, packet: PublishPacket): Promise<void> {
    const slow = packet.qos > 0 || packet.retain
    await new Promise<void>((resolve, reject) => {
      const run = () => {
        const b = broker()
        if (b === null) {
          reject(new Error('broker stopped'))
          return
        }
        if (slow) this.slow = packet.payload as Buffer
        b.publish(packet, err => {
          // Never emitted (an error) or already emitted: either way nothing is held for it any more.
          if (this.slow === packet.payload) this.handedOver()
          if (err) reject(err)
          else resolve()
        })
      }
      if (this.slow !== null || this.waiting.length > 0) this.waiting.push(run)
      else run()
    })
  }

  /** Publishes held back go on (the broker stopped: they fail), and nothing waits any more. */
  release(): void {
    this.handedOver()
  }

  private handedOver(): void {
    this.slow = null
    while (this.slow === null && this.waiting.length > 0) this.waiting.shift()?.()
  }
}
