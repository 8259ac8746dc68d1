// What the embedded broker keeps as retained messages from its clients. aedes keeps every retained
// message in memory (Buffers outside V8's heap limit) until the same topic is cleared, so one
// sensor retaining its readings under ever new topics (a MAC per topic in OpenMQTTGateway's
// format) grows the gateway without bound. Readings and scans are never retained (a reading is
// news once: replayed, it would be a stale reading); what legitimately retains (a sensor's status
// and will, a firmware's LWT) is kept small and capped. A retained message is its topic as much as
// its payload (aedes stores both, and sends both to every new subscriber to `#`): the caps count both.
import type { AedesOptions } from 'aedes'
import { topicMatches } from '../ingest/firmware-acl.ts'

/** Largest retained message a client may leave, bytes, topic and payload together: a status or will is a word or a small JSON. */
export const RETAIN_MAX_BYTES = 1024
/** Topics with a retained message from clients at most (a status and a will per sensor, with room). */
export const RETAIN_MAX_TOPICS = 1000
/**
 * Bytes (topics and payloads) clients may keep retained in all. A status is a short topic and a
 * word, so this is room for every topic at a few hundred bytes, not for every topic at the
 * per-message cap: a client filling each topic to the cap is refused before the store reaches a MiB.
 */
export const RETAIN_MAX_TOTAL_BYTES = 256 * 1024

/**
 * Retained topics and bytes one client may hold (its login under `--auth`, else its client id): a
 * sensor's status and will, with room. Without it, one client (or one sensor's credential) filling
 * the shared caps would leave no room for any other sensor's status.
 */
export const RETAIN_MAX_TOPICS_PER_CLIENT = 16
export const RETAIN_MAX_BYTES_PER_CLIENT = 16 * 1024

export type RetainRefusal = 'reading' | 'too_large' | 'too_many' | 'total_bytes' | 'client_quota'

type AuthorizePublish = NonNullable<AedesOptions['authorizePublish']>
type Packet = Parameters<AuthorizePublish>[1]
type Client = NonNullable<Parameters<AuthorizePublish>[0]>

/**
 * Wraps `inner` (the login rules, if any): a client's publish on one of the gateway's reading
 * topics (`readingFilters` except `.../status`), a retained message whose topic and payload
 * together exceed RETAIN_MAX_BYTES, a new retained topic past RETAIN_MAX_TOPICS, or one that would
 * take the retained total past RETAIN_MAX_TOTAL_BYTES, or one past its client's own share
 * (RETAIN_MAX_TOPICS_PER_CLIENT, RETAIN_MAX_BYTES_PER_CLIENT; `ownerOf` names the client) loses its retain flag: it is delivered live as
 * any message, not stored, and `refused` is told why. An empty retained payload clears a topic, as MQTT says.
 */
export function retainGuard(
  readingFilters: string[],
  refused: (why: RetainRefusal) => void,
  inner?: AuthorizePublish,
  ownerOf: (client: Client) => string = c => c.id
): AuthorizePublish {
  /** Each retained topic's size and the client that left it there. */
  const sizes = new Map<string, { size: number; owner: string }>()
  /** Per owner: topics and bytes it holds (the topic's last writer holds it). */
  const owners = new Map<string, { topics: number; bytes: number }>()
  let total = 0
  const release = (t: string): void => {
    const was = sizes.get(t)
    if (was === undefined) return
    sizes.delete(t)
    total -= was.size
    const o = owners.get(was.owner)
    if (o === undefined) return
    o.topics--
    o.bytes -= was.size
    if (o.topics <= 0) owners.delete(was.owner)
  }
  const check = (client: Client, packet: Packet): void => {
    if (!packet.retain) return
    const t = packet.topic
    const payload = (packet.payload as Buffer | string).length
    const size = Buffer.byteLength(t) + payload
    const was = sizes.get(t)
    const before = was?.size ?? 0
    const owner = ownerOf(client)
    const mine = owners.get(owner) ?? { topics: 0, bytes: 0 }
    const ownedBefore = was?.owner === owner ? before : 0
    let why: RetainRefusal | null = null
    if (!t.endsWith('/status') && readingFilters.some(f => topicMatches(f, t))) why = 'reading'
    else if (payload === 0) release(t)
    else if (size > RETAIN_MAX_BYTES) why = 'too_large'
    else if ((was?.owner !== owner && mine.topics >= RETAIN_MAX_TOPICS_PER_CLIENT) || mine.bytes - ownedBefore + size > RETAIN_MAX_BYTES_PER_CLIENT) why = 'client_quota'
    else if (was === undefined && sizes.size >= RETAIN_MAX_TOPICS) why = 'too_many'
    else if (total - before + size > RETAIN_MAX_TOTAL_BYTES) why = 'total_bytes'
    else {
      release(t)
      sizes.set(t, { size, owner })
      total += size
      const o = owners.get(owner) ?? { topics: 0, bytes: 0 }
      o.topics++
      o.bytes += size
      owners.set(owner, o)
    }
    if (why !== null) {
      packet.retain = false
      refused(why)
    }
  }
  return (client, packet, callback) => {
    const next = (err?: Error | null): void => {
      if (!err && client !== null) check(client, packet)
      callback(err)
    }
    if (inner) inner(client, packet, next)
    else next(null)
  }
}
