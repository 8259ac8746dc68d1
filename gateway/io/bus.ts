// Where the gateway's MQTT traffic goes: its own embedded aedes broker (default) or an existing
// broker through an MQTT client. Both deliver sensor messages in arrival order and publish output.
import mqtt, { type MqttClient } from 'mqtt'
import type { AedesPublishPacket, AedesOptions } from 'aedes'
import { startBroker, type EmbeddedBroker, type BrokerListenOptions } from '../../shared/broker.ts'

/**
 * Takes one message; calls `done` once it may be followed by more (the embedded broker holds the
 * sender's acknowledgement until then: backpressure reaches a QoS 1 publisher). Called exactly once.
 */
export type MessageHandler = (topic: string, payload: Buffer, done: () => void) => void

export interface Bus {
  /** Broker URL sensors should use. */
  readonly url: string
  start(topics: string[], onMessage: MessageHandler): Promise<void>
  /** Resolves once the broker took the message (QoS 1: acknowledged). */
  publish(topic: string, payload: string, opts: { qos: 0 | 1; retain?: boolean }): Promise<void>
  /** False while an external broker is unreachable. */
  readonly connected: boolean
  stop(): Promise<void>
}

export class EmbeddedBus implements Bus {
  private b: EmbeddedBroker | null = null
  constructor(
    private readonly port: number,
    private readonly host: string,
    private readonly options: AedesOptions = {},
    private readonly listeners: Pick<BrokerListenOptions, 'tls' | 'wsPort'> = {}
  ) {}

  get url(): string {
    return this.b?.url ?? ''
  }
  get connected(): boolean {
    return this.b !== null
  }
  get broker(): EmbeddedBroker | null {
    return this.b
  }

  async start(topics: string[], onMessage: MessageHandler): Promise<void> {
    // The gateway holds a sender's acknowledgement while its pipeline works (backpressure: aedes
    // reads no further from that sender meanwhile). Held deliveries would fill aedes' default 100
    // delivery slots and queue the gateway's own publishes behind them, so no limit here; what is
    // in flight is bounded by the gateway instead (gateway.ts MAX_INFLIGHT, one read per sender).
    this.b = await startBroker({ port: this.port, host: this.host, aedes: { concurrency: 0, ...this.options }, ...this.listeners })
    const broker = this.b.broker
    // In-process subscription (no client hop): aedes hands us each matching packet in order.
    await Promise.all(
      topics.map(
        t =>
          new Promise<void>(resolve => {
            broker.subscribe(
              t,
              (packet: AedesPublishPacket, done: () => void) => {
                // Once only, even if the handler throws after calling it.
                let called = false
                const once = (): void => {
                  if (!called) {
                    called = true
                    done()
                  }
                }
                try {
                  onMessage(packet.topic, packet.payload as Buffer, once)
                } catch (err) {
                  once()
                  throw err
                }
              },
              resolve
            )
          })
      )
    )
  }

  async publish(topic: string, payload: string, opts: { qos: 0 | 1; retain?: boolean }): Promise<void> {
    const broker = this.b?.broker
    if (!broker) throw new Error('broker stopped')
    await new Promise<void>((resolve, reject) =>
      broker.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: opts.qos, retain: opts.retain ?? false, dup: false }, (err?: Error) =>
        err ? reject(err) : resolve()
      )
    )
  }

  async stop(): Promise<void> {
    await this.b?.close()
    this.b = null
  }
}

export class ClientBus implements Bus {
  /** Takes the sensors' messages; holds each acknowledgement until the pipeline has room. */
  private sub: MqttClient | null = null
  /** Publishes the gateway's output. */
  private pub: MqttClient | null = null
  constructor(
    readonly url: string,
    private readonly clientId: string,
    private readonly auth: { username?: string; password?: string } = {}
  ) {}

  get connected(): boolean {
    return (this.sub?.connected ?? false) && (this.pub?.connected ?? false)
  }

  async start(topics: string[], onMessage: MessageHandler): Promise<void> {
    // Two connections: mqtt.js reads a connection's packets one at a time and waits for
    // `handleMessage` before the next, so holding a sensor message there holds the broker back
    // (backpressure, as the embedded broker gives), but on one connection it would also hold the
    // acknowledgements of the gateway's own publishes, for which the pipeline may be waiting.
    this.pub = await mqtt.connectAsync(this.url, { clientId: `${this.clientId}-out`, reconnectPeriod: 2000, ...this.auth })
    this.sub = await mqtt.connectAsync(this.url, { clientId: this.clientId, reconnectPeriod: 2000, ...this.auth })
    const sub = this.sub
    // 'message' is emitted just before `handleMessage` for the same packet, with the topic resolved.
    let topic = ''
    sub.on('message', t => {
      topic = t
    })
    sub.handleMessage = (packet, callback) => {
      if (packet.cmd !== 'publish') return callback()
      let called = false
      const done = (): void => {
        if (!called) {
          called = true
          callback()
        }
      }
      try {
        onMessage(topic, packet.payload as Buffer, done)
      } catch {
        done()
      }
    }
    // Resubscribe after every reconnect: a broker restart loses non-persistent sessions.
    sub.on('connect', () => {
      sub.subscribe(topics, { qos: 1 })
    })
    await sub.subscribeAsync(topics, { qos: 1 })
  }

  async publish(topic: string, payload: string, opts: { qos: 0 | 1; retain?: boolean }): Promise<void> {
    if (!this.pub) throw new Error('client stopped')
    await this.pub.publishAsync(topic, payload, { qos: opts.qos, retain: opts.retain ?? false })
  }

  async stop(): Promise<void> {
    await Promise.all([this.sub?.endAsync(), this.pub?.endAsync()])
    this.sub = null
    this.pub = null
  }
}
