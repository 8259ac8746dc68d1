// Where the gateway's MQTT traffic goes: its own embedded aedes broker (default) or an existing
// broker through an MQTT client. Both deliver sensor messages in arrival order and publish output.
import mqtt, { type MqttClient } from 'mqtt'
import type { AedesPublishPacket, AedesOptions, Client } from 'aedes'
import { startBroker, type EmbeddedBroker, type BrokerListenOptions } from '../../shared/broker.ts'
import { retainGuard, type RetainRefusal } from './retain-guard.ts'
import { loginOf, type AuthFile, type BrokerAuth } from './broker-auth.ts'
import { unpublishable, type Unpublishable } from './publish-limits.ts'
import { OrderedPublisher } from './ordered-publish.ts'

/**
 * Takes one message; calls `done` once it may be followed by more (the embedded broker holds the
 * sender's acknowledgement until then: backpressure reaches a QoS 1 publisher). Called exactly once.
 */
export type MessageHandler = (topic: string, payload: Buffer, done: () => void, from?: MessageOrigin) => void

/**
 * What the broker says of a message beyond its topic: the MQTT client that published it (the
 * embedded broker knows it), and whether it is a stored (retained) message replayed on subscribe
 * rather than one sent now (an external broker says so; the embedded one replays none).
 */
export interface MessageOrigin {
  client?: string
  retained?: boolean
  /** The publisher's login (broker-auth.ts loginOf): only a phone logged in as `phone:<id>` speaks for device id <id>. */
  login?: string
}

export interface Bus {
  /** Broker URL sensors should use. */
  readonly url: string
  start(topics: string[], onMessage: MessageHandler): Promise<void>
  /**
   * Resolves once the broker took the message (QoS 1: acknowledged). A message MQTT cannot carry
   * (publish-limits.ts) is not sent: `onUnpublishable` is told and the call resolves, since sending
   * it again would never succeed either (an outbox would stall on it).
   */
  publish(topic: string, payload: string, opts: { qos: 0 | 1; retain?: boolean }): Promise<void>
  onUnpublishable?: (why: Unpublishable, topic: string) => void
  /** False while an external broker is unreachable. */
  readonly connected: boolean
  /**
   * Messages the external broker dropped at its queue limits while this gateway ran, for any of its
   * clients (Mosquitto counts them all), and when that last rose; null if it does not say.
   */
  droppedByBroker?(): { n: number; roseAt: number } | null
  /**
   * The embedded broker: QoS 1 messages it dropped from MQTT sessions' queues and stored sessions it
   * ended at their bounds since start (shared/session-store.ts), and when it last did (wall ms, 0: never).
   */
  sessionDrops?(): { messages: number; sessions: number; at: number }
  /** The embedded broker with logins: puts a new auth file in force; returns the clients it disconnected. */
  reloadAuth?(next: AuthFile): number
  stop(): Promise<void>
}

/** `done`, callable any number of times, calling through once. */
function onceOnly(done: () => void): () => void {
  let called = false
  return () => {
    if (!called) {
      called = true
      done()
    }
  }
}

/**
 * The largest MQTT packet the embedded broker takes when messages may hold `maxMessageBytes`: four
 * times that, plus a topic of at most 65,535 bytes with its 2-byte length and a 2-byte packet id
 * (MQTT 3.1.1 §3.3; aedes 1.x speaks no MQTT 5 properties). A message a little over the limit is
 * refused by the pipeline as `oversized` and its sender stays connected; a packet far past any
 * message the gateway takes closes the sender's connection before the broker holds it
 * (shared/packet-guard.ts).
 */
export function packetLimit(maxMessageBytes: number): number {
  return 4 * maxMessageBytes + 2 + 65_535 + 2
}

/** A subscriber whose socket has not drained for this long is disconnected, ms. */
const SLOW_SUBSCRIBER_MS = 5000
/**
 * How often the keepalive of a sender the gateway holds back is renewed, ms: well under the
 * shortest keepalive aedes enforces (1.5 times a client's 1 s keepalive).
 */
const HELD_KEEPALIVE_MS = 500

/** The part of an aedes client its keepalive lives in (aedes 1.x; not in its typings). */
interface KeepaliveOf {
  _keepaliveTimer?: { refresh?: () => unknown } | null
}

export class EmbeddedBus implements Bus {
  private b: EmbeddedBroker | null = null
  private readonly options: AedesOptions
  /** Senders whose messages the gateway has not let go of yet (see `start`), by client id: how many. */
  private readonly held = new Map<string, number>()
  private heldTimer: NodeJS.Timeout | null = null
  private readonly ordered = new OrderedPublisher()
  readonly reloadAuth?: (next: AuthFile) => number
  constructor(
    private readonly port: number,
    private readonly host: string,
    auth: BrokerAuth | AedesOptions = {},
    private readonly listeners: Pick<BrokerListenOptions, 'tls' | 'wsPort' | 'maxPacketBytes' | 'onOversized' | 'limits' | 'sessions'> = {},
    /** Told of each client publish whose retain flag was refused (retain-guard.ts). */
    private readonly retainRefused: (why: RetainRefusal) => void = () => {}
  ) {
    if ('replace' in auth) {
      const { replace, ...hooks } = auth
      this.options = hooks
      this.reloadAuth = replace
    } else this.options = auth
  }

  get url(): string {
    return this.b?.url ?? ''
  }
  get connected(): boolean {
    return this.b !== null
  }
  get broker(): EmbeddedBroker | null {
    return this.b
  }

  sessionDrops(): { messages: number; sessions: number; at: number } {
    const s = this.b?.sessions
    if (!s) return { messages: 0, sessions: 0, at: 0 }
    const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0)
    return { messages: sum(s.dropped), sessions: sum(s.ended), at: s.lastDropAt }
  }

  async start(topics: string[], onMessage: MessageHandler): Promise<void> {
    // The gateway holds a sender's acknowledgement while its pipeline works (backpressure: aedes
    // reads no further from that sender meanwhile). Held deliveries would fill aedes' default 100
    // delivery slots and queue the gateway's own publishes behind them, so no limit here; what is
    // in flight is bounded by the gateway instead (gateway.ts MAX_INFLIGHT, one read per sender).
    // A subscriber that stops reading holds every sender whose messages it subscribed to (aedes
    // waits for its socket to drain before the sender's next packet): it is cut off after
    // SLOW_SUBSCRIBER_MS instead of aedes' default minute.
    // Nothing the gateway reads is kept retained, with or without logins (retain-guard.ts).
    // While it holds a sender back, aedes does not read that sender's packets, its pings included,
    // and its keepalive timer (renewed only by a packet read) would close a live sender once the
    // pipeline worked longer than one and a half keepalives (a loaded machine, a long GC). The
    // sender is not silent: what it sent waits unread because the gateway asked for that. So the
    // keepalive of every sender held is renewed meanwhile; once let go, it applies again.
    const authorizePublish = retainGuard(topics, this.retainRefused, this.options.authorizePublish, c => loginOf(c) ?? c.id)
    this.b = await startBroker({
      port: this.port,
      host: this.host,
      aedes: { concurrency: 0, drainTimeout: SLOW_SUBSCRIBER_MS, ...this.options, authorizePublish },
      ...this.listeners,
      loginOf
    })
    const broker = this.b.broker
    await this.ordered.attach(broker)
    this.heldTimer = setInterval(() => this.renewHeld(), HELD_KEEPALIVE_MS)
    this.heldTimer.unref()
    // In-process subscription (no client hop): aedes hands us each matching packet in order.
    await Promise.all(
      topics.map(
        t =>
          new Promise<void>(resolve => {
            broker.subscribe(
              t,
              (packet: AedesPublishPacket, done: () => void) => {
                const client = (packet as AedesPublishPacket & { clientId?: unknown }).clientId
                // Once only, even if the handler throws after calling it.
                const once = onceOnly(typeof client === 'string' ? this.holding(client, done) : done)
                try {
                  onMessage(packet.topic, packet.payload as Buffer, once, typeof client === 'string' ? { client, login: this.loginOfClient(client) } : {})
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

  /**
   * The login of the client connected under `id` now (aedes hands subscribers the publisher's id,
   * not the client): the one that published, since a client id is held by one login at a time
   * (broker-auth.ts). Undefined without logins, or once it is gone: its device ids stay anonymous.
   */
  private loginOfClient(id: string): string | undefined {
    const c = (this.b?.broker as { clients?: Record<string, Client | undefined> } | undefined)?.clients?.[id]
    return c === undefined ? undefined : loginOf(c)
  }

  /** `done` for a message of `client`, counting it as held until called. */
  private holding(client: string, done: () => void): () => void {
    this.held.set(client, (this.held.get(client) ?? 0) + 1)
    return () => {
      const n = (this.held.get(client) ?? 1) - 1
      if (n > 0) this.held.set(client, n)
      else this.held.delete(client)
      done()
    }
  }

  private renewHeld(): void {
    const clients = (this.b?.broker as { clients?: Record<string, KeepaliveOf | undefined> } | undefined)?.clients
    if (!clients) return
    for (const id of this.held.keys()) clients[id]?._keepaliveTimer?.refresh?.()
  }

  onUnpublishable?: (why: Unpublishable, topic: string) => void

  async publish(topic: string, payload: string, opts: { qos: 0 | 1; retain?: boolean }): Promise<void> {
    if (!this.b) throw new Error('broker stopped')
    const why = unpublishable(topic, payload)
    if (why !== null) return this.onUnpublishable?.(why, topic)
    // In order: aedes drops a retained or QoS 1 packet overtaken by a later one (ordered-publish.ts).
    await this.ordered.publish(() => this.b?.broker ?? null, { cmd: 'publish', topic, payload: Buffer.from(payload), qos: opts.qos, retain: opts.retain ?? false, dup: false })
  }

  async stop(): Promise<void> {
    if (this.heldTimer) clearInterval(this.heldTimer)
    this.heldTimer = null
    await this.b?.close()
    this.b = null
    this.ordered.release()
  }
}

/** Mosquitto's count of messages it dropped at its queue or in-flight limits (a `$SYS` topic). */
const BROKER_DROPPED_TOPIC = '$SYS/broker/publish/messages/dropped'

export class ClientBus implements Bus {
  /** Takes the sensors' messages; holds each acknowledgement until the pipeline has room. */
  private sub: MqttClient | null = null
  /** Publishes the gateway's output. */
  private pub: MqttClient | null = null
  /** The broker's own count as last heard (Mosquitto's `$SYS`, since the broker started), null if it does not say. */
  private brokerCount: number | null = null
  /** What the broker dropped while this gateway ran (its count's rises, across broker restarts), and when it last rose, wall ms. */
  private brokerDropped = 0
  private brokerDroppedRoseAt = 0
  constructor(
    readonly url: string,
    private readonly clientId: string,
    private readonly auth: { username?: string; password?: string } = {}
  ) {}

  get connected(): boolean {
    return (this.sub?.connected ?? false) && (this.pub?.connected ?? false)
  }

  droppedByBroker(): { n: number; roseAt: number } | null {
    return this.brokerCount === null ? null : { n: this.brokerDropped, roseAt: this.brokerDroppedRoseAt }
  }

  async start(topics: string[], onMessage: MessageHandler): Promise<void> {
    // Two connections: mqtt.js reads a connection's packets one at a time and waits for
    // `handleMessage` before the next, so holding a sensor message there holds the broker back
    // (backpressure, as the embedded broker gives), but on one connection it would also hold the
    // acknowledgements of the gateway's own publishes, for which the pipeline may be waiting.
    this.pub = await mqtt.connectAsync(this.url, { clientId: `${this.clientId}-out`, reconnectPeriod: 2000, ...this.auth })
    // A persistent session (clean: false): the broker keeps the subscription and queues QoS 1
    // messages while the gateway restarts or reconnects, instead of dropping them. Handlers are set
    // before connecting, since the broker delivers what it queued as soon as the session resumes.
    const sub = mqtt.connect(this.url, { clientId: this.clientId, clean: false, reconnectPeriod: 2000, ...this.auth })
    this.sub = sub
    // 'message' is emitted just before `handleMessage` for the same packet, with the topic resolved.
    let topic = ''
    sub.on('message', t => {
      topic = t
    })
    sub.handleMessage = (packet, callback) => {
      if (packet.cmd !== 'publish') return callback()
      if (topic === BROKER_DROPPED_TOPIC) {
        const n = Number(String(packet.payload))
        if (Number.isFinite(n) && n >= 0) {
          // The first count is the broker's past, not this gateway's; a count that falls is a broker restarted from 0.
          const rise = this.brokerCount === null ? 0 : n >= this.brokerCount ? n - this.brokerCount : n
          if (rise > 0) {
            this.brokerDropped += rise
            this.brokerDroppedRoseAt = Date.now()
          }
          this.brokerCount = n
        }
        return callback()
      }
      const done = onceOnly(() => callback())
      try {
        onMessage(topic, packet.payload as Buffer, done, { retained: packet.retain })
      } catch {
        done()
      }
    }
    // Resubscribe after every reconnect: a broker restarted without persistence lost the session.
    // The `$SYS` counter is optional: a broker that has none, or an ACL that refuses it, changes nothing.
    const subscribe = async (): Promise<void> => {
      await sub.subscribeAsync(topics, { qos: 1 })
      await sub.subscribeAsync(BROKER_DROPPED_TOPIC, { qos: 0 }).catch(() => {})
    }
    await new Promise<void>((resolve, reject) => {
      const failed = (err: Error): void => {
        sub.end(true)
        reject(err)
      }
      sub.once('error', failed)
      sub.once('connect', () => {
        sub.off('error', failed)
        resolve()
      })
    })
    sub.on('connect', () => {
      subscribe().catch(() => {})
    })
    // An error event with no listener would end the process; a connection that fails is retried
    // every 2 s and shows as `connected` false (/healthz: broker unreachable).
    for (const c of [this.pub, sub]) c.on('error', () => {})
    await subscribe()
  }

  onUnpublishable?: (why: Unpublishable, topic: string) => void

  async publish(topic: string, payload: string, opts: { qos: 0 | 1; retain?: boolean }): Promise<void> {
    if (!this.pub) throw new Error('client stopped')
    const why = unpublishable(topic, payload)
    if (why !== null) return this.onUnpublishable?.(why, topic)
    await this.pub.publishAsync(topic, payload, { qos: opts.qos, retain: opts.retain ?? false })
  }

  async stop(): Promise<void> {
    // A broker that is gone must not hold the stop: what was not published is in the outbox.
    await Promise.all([this.sub?.endAsync(true), this.pub?.endAsync(true)])
    this.sub = null
    this.pub = null
  }
}
