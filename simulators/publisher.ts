// Publishes with a cap on messages in flight, so a fast producer never outruns the socket
// (a blind publish loop in mqtt.js crawls, far slower than with a cap: `npm run bench -- throughput`).
import type { MqttClient, IClientPublishOptions } from 'mqtt'

export class BoundedPublisher {
  private inflight = 0
  private waiters: Array<() => void> = []
  private failure: Error | null = null
  published = 0

  constructor(
    private readonly client: MqttClient,
    private readonly maxInflight = 256
  ) {}

  async publish(topic: string, payload: string | Buffer, opts: IClientPublishOptions = {}): Promise<void> {
    if (this.failure) throw this.failure
    while (this.inflight >= this.maxInflight) await new Promise<void>(resolve => this.waiters.push(resolve))
    this.inflight++
    this.client.publish(topic, payload, opts, err => {
      this.inflight--
      if (err && !this.failure) this.failure = err
      else if (!err) this.published++
      const w = this.waiters.shift()
      if (w) w()
    })
  }

  /** Resolves when every publish so far has been written (QoS 0) or acknowledged (QoS 1). */
  async drain(): Promise<void> {
    while (this.inflight > 0) await new Promise<void>(resolve => this.waiters.push(resolve))
    if (this.failure) throw this.failure
  }
}
