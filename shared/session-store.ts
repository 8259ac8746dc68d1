// The embedded broker's session store: aedes' in-memory persistence with bounds on what MQTT
// sessions may hold. aedes queues every QoS 1 message for every stored session (clean: false)
// whose subscription matches, whether its client is away or connected and not acknowledging, in an
// array with no bound: a few clients that subscribe to '#' and leave made the gateway's memory grow
// by hundreds of MiB from a fraction of a MiB sent (an outside tester). Here the sessions of
// clients that are away are bounded in number and lifetime, each session's queue in messages, and
// all queues together in bytes; whatever a bound drops is counted by reason. The same goes for the
// other way in: a QoS 2 message a client sends is held (aedes-persistence's `incoming`) until its
// PUBREL, for as long as the session lasts; a client that never sends PUBREL and leaves made the
// gateway hold every such message (s10 re-tester G: +770 MiB). Those are bounded per session in
// messages and in all in bytes, and a client past a bound is refused (its connection closed).
import { createRequire } from 'node:module'
import { Readable } from 'node:stream'
import type { Aedes, Client } from 'aedes'

export interface SessionLimits {
  /** Stored sessions (clean: false) of clients that are away; past it the one away longest is ended. */
  maxStoredSessions: number
  /**
   * Messages queued at most for one session, away or connected; past it its oldest is dropped
   * (Mosquitto's max_queued_messages). Also the QoS 2 messages one session may hold awaiting PUBREL.
   */
  maxQueuedPerSession: number
  /**
   * Bytes queued at most for all sessions together (topic, payload and ENTRY_COST each); past it the
   * longest queue drops its oldest. As much again for QoS 2 messages held awaiting PUBREL.
   */
  maxQueuedBytes: number
  /** A stored session whose client has been away this long is ended, ms (MQTT 3.1.1 sets none; Mosquitto's persistent_client_expiration). */
  sessionExpiryMs: number
}

/**
 * Room for a sensor's commands and a reader's few minutes away, far below what the gateway runs
 * on; the hour is as long as a stored session keeps its client id under --auth (broker-auth.ts).
 */
export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxStoredSessions: 100,
  maxQueuedPerSession: 1000,
  maxQueuedBytes: 8 * 1024 * 1024,
  sessionExpiryMs: 3_600_000
}

/**
 * What a queued message costs beyond its topic and payload, bytes: its packet object and its slot
 * in the queue (an estimate on the safe side; docs/limits.md gives the measurement). A payload
 * queued for several sessions is one buffer, charged to each: the budget errs towards less.
 */
export const ENTRY_COST = 200

/** `incoming_*`: a QoS 2 message refused (its client's connection closed) past the bound on those awaiting PUBREL. */
export type QueueDropReason = 'queue_full' | 'queue_bytes' | 'session_ended' | 'incoming_full' | 'incoming_bytes'
export type SessionEndReason = 'sessions' | 'expired'

/** The packet fields the store reads; aedes' packets carry more, kept as they are. */
interface Queued {
  topic: string
  payload: Buffer | string
  messageId?: number
  brokerId?: string
  brokerCounter?: number
}

interface Queue {
  packets: Queued[]
  bytes: number
}

/** aedes-persistence's in-memory store (its async class): subscriptions, retained, wills, QoS 2 state. */
interface MemoryBase {
  setup(broker: Aedes): Promise<void>
  cleanSubscriptions(client: Pick<Client, 'id'>): Promise<void>
  cleanIncoming(client: Pick<Client, 'id'>): Promise<void>
  incomingStorePacket(client: Pick<Client, 'id'>, packet: Queued): Promise<void>
  incomingDelPacket(client: Pick<Client, 'id'>, packet: Pick<Queued, 'messageId'>): Promise<void>
}
const require = createRequire(import.meta.url)
const MemoryPersistence = require('aedes-persistence/asyncPersistence.js') as new () => MemoryBase
const Packet = require('aedes-packet') as new (p: Queued) => Queued

const costOf = (p: Queued): number => Buffer.byteLength(p.topic) + (typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload.length) + ENTRY_COST

export class BoundedSessionStore extends MemoryPersistence {
  /** Messages dropped from queues since start, by the bound met (`session_ended`: queued for a session a bound ended). */
  readonly dropped: Record<QueueDropReason, number> = { queue_full: 0, queue_bytes: 0, session_ended: 0, incoming_full: 0, incoming_bytes: 0 }
  /** Stored sessions ended since start, by the bound met. */
  readonly ended: Record<SessionEndReason, number> = { sessions: 0, expired: 0 }
  /** When a bound last dropped or ended something (wall ms), 0 if never. */
  lastDropAt = 0
  /** Each session's queue (the store's own: aedes-persistence keeps its queues private). */
  private readonly queues = new Map<string, Queue>()
  /** Clients with a stored session that are away, and since when (ms): oldest first. */
  private readonly away = new Map<string, number>()
  private queuedBytes = 0
  /** Per session, the QoS 2 messages held awaiting PUBREL: their cost by packet id. */
  private readonly incoming = new Map<string, Map<number, number>>()
  private incomingBytes = 0
  /** The broker's connected clients by id (aedes keeps them; its types do not say). */
  private clients: Record<string, unknown> = {}

  constructor(
    readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
    private readonly now: () => number = Date.now
  ) {
    super()
  }

  /** Stored sessions of clients that are away. */
  get storedSessions(): number {
    return this.away.size
  }
  /** Messages queued for all sessions. */
  get queuedMessages(): number {
    let n = 0
    for (const q of this.queues.values()) n += q.packets.length
    return n
  }
  /** QoS 2 messages held for all sessions awaiting PUBREL, and what they are charged (bytes). */
  get incomingMessages(): number {
    let n = 0
    for (const m of this.incoming.values()) n += m.size
    return n
  }
  get incomingCost(): number {
    return this.incomingBytes
  }
  /** What the queued messages are charged, bytes (see ENTRY_COST). */
  get queuedCost(): number {
    return this.queuedBytes
  }

  override async setup(broker: Aedes): Promise<void> {
    await super.setup(broker)
    this.clients = (broker as unknown as { clients: Record<string, unknown> }).clients
    // aedes emits 'clientDisconnect' for a client it replaces (same id) before 'client' for the new one.
    broker.on('client', client => this.away.delete(client.id))
    broker.on('clientDisconnect', client => {
      if (client.clean) return
      this.away.delete(client.id) // re-inserted last: the Map's order is the time away
      this.away.set(client.id, this.now())
      this.prune()
    })
  }

  async outgoingEnqueue(sub: { clientId: string }, packet: Queued): Promise<void> {
    this.push(sub.clientId, new Packet(packet))
    this.fitBudget()
  }

  async outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: Queued): Promise<void> {
    for (const s of subs) this.push(s.clientId, new Packet(packet))
    this.fitBudget()
    this.prune()
  }

  /**
   * Gives a queued message its packet id as it is sent. One a bound dropped meanwhile is not an
   * error (aedes-persistence throws, and aedes closes the client for it): it is sent and forgotten.
   */
  async outgoingUpdate(client: Pick<Client, 'id'>, packet: Queued): Promise<void> {
    const q = this.queues.get(client.id)
    if (!q) return
    for (let i = 0; i < q.packets.length; i++) {
      const p = q.packets[i] as Queued
      if (p.brokerId === packet.brokerId) {
        // The same message: its packet id (ids roll over at 65,535, the broker's counter does not).
        if (p.brokerCounter === packet.brokerCounter) {
          p.messageId = packet.messageId
          return
        }
      } else if (p.messageId === packet.messageId) {
        this.charge(client.id, q, costOf(packet) - costOf(p))
        q.packets[i] = packet
        return
      }
    }
  }

  async outgoingClearMessageId(client: Pick<Client, 'id'>, packet: Pick<Queued, 'messageId'>): Promise<Queued | undefined> {
    const q = this.queues.get(client.id)
    if (!q) return undefined
    const i = q.packets.findIndex(p => p.messageId === packet.messageId)
    if (i < 0) return undefined
    const [p] = q.packets.splice(i, 1) as [Queued]
    this.charge(client.id, q, -costOf(p))
    return p
  }

  outgoingStream(client: Pick<Client, 'id'>): Readable {
    // A copy: aedes reads it while the queue changes.
    return Readable.from([...(this.queues.get(client.id)?.packets ?? [])])
  }

  /**
   * Holds a QoS 2 message until its PUBREL, within the bounds. Past one it is refused: aedes then
   * closes the client's connection (a client that leaves its QoS 2 exchanges unfinished is broken
   * or hostile) and nothing is published.
   */
  override async incomingStorePacket(client: Pick<Client, 'id'>, packet: Queued): Promise<void> {
    const held = this.incoming.get(client.id) ?? new Map<number, number>()
    const id = packet.messageId ?? 0
    const cost = costOf(packet)
    const before = held.get(id) ?? 0
    let why: QueueDropReason | null = null
    if (!held.has(id) && held.size >= this.limits.maxQueuedPerSession) why = 'incoming_full'
    else if (this.incomingBytes - before + cost > this.limits.maxQueuedBytes) why = 'incoming_bytes'
    if (why !== null) {
      this.dropped[why]++
      this.lastDropAt = this.now()
      throw new Error(`QoS 2 messages awaiting PUBREL past the bound (${why})`)
    }
    await super.incomingStorePacket(client, packet)
    held.set(id, cost)
    this.incoming.set(client.id, held)
    this.incomingBytes += cost - before
  }

  override async incomingDelPacket(client: Pick<Client, 'id'>, packet: Pick<Queued, 'messageId'>): Promise<void> {
    await super.incomingDelPacket(client, packet)
    const held = this.incoming.get(client.id)
    const cost = held?.get(packet.messageId ?? 0)
    if (held === undefined || cost === undefined) return
    held.delete(packet.messageId ?? 0)
    this.incomingBytes -= cost
    if (held.size === 0) this.incoming.delete(client.id)
  }

  override async cleanIncoming(client: Pick<Client, 'id'>): Promise<void> {
    this.forgetIncoming(client.id)
    await super.cleanIncoming(client)
  }

  private forgetIncoming(id: string): void {
    const held = this.incoming.get(id)
    if (!held) return
    for (const cost of held.values()) this.incomingBytes -= cost
    this.incoming.delete(id)
  }

  private push(id: string, p: Queued): void {
    let q = this.queues.get(id)
    if (!q) {
      q = { packets: [], bytes: 0 }
      this.queues.set(id, q)
    }
    q.packets.push(p)
    this.charge(id, q, costOf(p))
    while (q.packets.length > this.limits.maxQueuedPerSession) this.dropOldest(id, q, 'queue_full')
  }

  private charge(id: string, q: Queue, bytes: number): void {
    q.bytes += bytes
    this.queuedBytes += bytes
    if (q.packets.length === 0) this.queues.delete(id)
  }

  private dropOldest(id: string, q: Queue, why: QueueDropReason): void {
    const p = q.packets.shift()
    if (!p) return
    this.charge(id, q, -costOf(p))
    this.dropped[why]++
    this.lastDropAt = this.now()
  }

  /** Over the byte budget, the longest queue (in bytes) loses its oldest message until it fits. */
  private fitBudget(): void {
    while (this.queuedBytes > this.limits.maxQueuedBytes) {
      let longest: [string, Queue] | undefined
      for (const e of this.queues) if (longest === undefined || e[1].bytes > longest[1].bytes) longest = e
      if (longest === undefined) return
      this.dropOldest(longest[0], longest[1], 'queue_bytes')
    }
  }

  /** Ends the stored sessions away too long, then those away longest past the bound on their number. */
  private prune(): void {
    const t = this.now()
    for (const [id, since] of this.away) {
      // Back (a takeover's order, or a reconnect in flight): not away.
      if (this.clients[id] !== undefined) {
        this.away.delete(id)
        continue
      }
      const expired = t - since >= this.limits.sessionExpiryMs
      if (!expired && this.away.size <= this.limits.maxStoredSessions) break
      this.end(id, expired ? 'expired' : 'sessions')
    }
  }

  private end(id: string, why: SessionEndReason): void {
    this.away.delete(id)
    const q = this.queues.get(id)
    if (q) {
      this.dropped.session_ended += q.packets.length
      this.queuedBytes -= q.bytes
      this.queues.delete(id)
    }
    this.ended[why]++
    // An expired session with nothing queued is a client gone for good, not a bound met: /healthz stays quiet.
    if (why === 'sessions' || (q?.packets.length ?? 0) > 0) this.lastDropAt = this.now()
    // Its subscriptions and QoS 2 state: the client that comes back starts a new session.
    super.cleanSubscriptions({ id }).catch(() => {})
    this.forgetIncoming(id)
    super.cleanIncoming({ id }).catch(() => {})
  }
}
