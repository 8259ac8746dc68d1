// Publishes with a cap on messages in flight, so a fast producer never outruns the socket
// (a blind publish loop in mqtt.js crawls, far slower than with a cap: `npm run bench -- throughput`).
import type { MqttClient, IClientPublishOptions } from 'mqtt'

/** The connection closed under QoS 0 messages the socket had not yet taken: they are lost (QoS 0 is never sent again). */
export class ConnectionLostError extends Error {
  constructor(readonly lost: number) {
    super(`the connection to the broker closed under ${lost} QoS 0 message(s) not yet written: these, and any still in the socket's buffers, are lost`)
    this.name = 'ConnectionLostError'
  }
}

interface InFlight {
  /** The socket the message was written to (null: queued by mqtt.js while disconnected). */
  stream: unknown
  qos: number
  settled: boolean
}

export class BoundedPublisher {
  private readonly inflight = new Set<InFlight>()
  private waiters: Array<() => void> = []
  private failure: Error | null = null
  published = 0

  constructor(
    private readonly client: MqttClient,
    private readonly maxInflight = 256
  ) {
    client.on('close', this.onClose)
  }

  /**
   * A full socket that drains is a sign of life from the broker as good as a ping's answer: once
   * the socket's buffers are full, it takes more only as the broker reads. A broker that reads
   * slower than this publisher writes (a gateway holding its acknowledgements while it works)
   * answers a ping only after everything queued before it, which can take longer than mqtt.js waits
   * for the answer (half the keepalive); it would then drop a live connection and the messages in
   * it. So the publish callbacks a drain brings put the keepalive's ping off (`reschedulePing`, as
   * mqtt.js does itself on every QoS 1 acknowledgement); a broker that stops reading still trips
   * it once the buffers are full and nothing drains.
   */
  async publish(topic: string, payload: string | Buffer, opts: IClientPublishOptions = {}): Promise<void> {
    if (this.failure) throw this.failure
    while (this.inflight.size >= this.maxInflight) await new Promise<void>(resolve => this.waiters.push(resolve))
    if (this.failure) throw this.failure
    const m: InFlight = { stream: this.client.connected ? this.client.stream : null, qos: opts.qos ?? 0, settled: false }
    this.inflight.add(m)
    let writing = true
    this.client.publish(topic, payload, opts, err => {
      // Called back later, not from within publish(): the socket was full and has drained since.
      if (!writing && !err) this.client.reschedulePing()
      if (!m.settled) this.settle(m, err ?? null)
    })
    writing = false
  }

  /** Resolves when every publish so far has been written (QoS 0) or acknowledged (QoS 1). */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await new Promise<void>(resolve => this.waiters.push(resolve))
    if (this.failure) throw this.failure
  }

  /** Stops watching the client (its connection may close after this without failing anything). */
  detach(): void {
    this.client.off('close', this.onClose)
  }

  private settle(m: InFlight, err: Error | null, sent = true): void {
    m.settled = true
    this.inflight.delete(m)
    if (err && !this.failure) this.failure = err
    else if (!err && sent) this.published++
    const w = this.waiters.shift()
    if (w) w()
  }

  /**
   * mqtt.js calls a QoS 0 publish back once the socket has taken it, on that socket's 'drain'; a
   * socket closed first (a keepalive timeout, the broker gone) never drains, and the client
   * reconnects on a new one, so the callback never comes and the publisher would wait forever.
   * Those messages are lost with the socket: the publisher fails instead of going on without them.
   * QoS 1 messages stay: mqtt.js sends them again after reconnecting and calls back on their ack.
   */
  private readonly onClose = (): void => {
    const closed = this.client.stream
    const lost = [...this.inflight].filter(m => m.qos === 0 && m.stream === closed)
    if (lost.length === 0) return
    if (!this.failure) this.failure = new ConnectionLostError(lost.length)
    for (const m of lost) this.settle(m, null, false)
    // Every waiter must see the failure, not only as many as were settled.
    for (const w of this.waiters.splice(0)) w()
  }
}
