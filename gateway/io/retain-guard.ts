// What the embedded broker keeps as retained messages from its clients. aedes keeps every retained
// message in memory (Buffers outside V8's heap limit) until the same topic is cleared, so one
// sensor retaining its readings under ever new topics (a MAC per topic in OpenMQTTGateway's
// format) grows the gateway without bound. Readings and scans are never retained (a reading is
// news once: replayed, it would be a stale reading); what legitimately retains (a sensor's status
// and will, a firmware's LWT) is kept small and capped.
import type { AedesOptions } from 'aedes'
import { topicMatches } from '../ingest/firmware-acl.ts'

/** Largest retained message a client may leave, bytes: a status or will is a word or a small JSON. */
export const RETAIN_MAX_BYTES = 1024
/** Topics with a retained message from clients at most (a status and a will per sensor, with room). */
export const RETAIN_MAX_TOPICS = 1000

export type RetainRefusal = 'reading' | 'too_large' | 'too_many'

type AuthorizePublish = NonNullable<AedesOptions['authorizePublish']>
type Packet = Parameters<AuthorizePublish>[1]

/**
 * Wraps `inner` (the login rules, if any): a client's publish on one of the gateway's reading
 * topics (`readingFilters` except `.../status`), a retained payload over RETAIN_MAX_BYTES, or a
 * new retained topic past RETAIN_MAX_TOPICS loses its retain flag: it is delivered live as any
 * message, not stored, and `refused` is told why. An empty retained payload clears a topic, as MQTT says.
 */
export function retainGuard(readingFilters: string[], refused: (why: RetainRefusal) => void, inner?: AuthorizePublish): AuthorizePublish {
  const held = new Set<string>()
  const check = (packet: Packet): void => {
    if (!packet.retain) return
    const t = packet.topic
    const size = (packet.payload as Buffer | string).length
    let why: RetainRefusal | null = null
    if (!t.endsWith('/status') && readingFilters.some(f => topicMatches(f, t))) why = 'reading'
    else if (size === 0) held.delete(t)
    else if (size > RETAIN_MAX_BYTES) why = 'too_large'
    else if (!held.has(t) && held.size >= RETAIN_MAX_TOPICS) why = 'too_many'
    else held.add(t)
    if (why !== null) {
      packet.retain = false
      refused(why)
    }
  }
  return (client, packet, callback) => {
    const next = (err?: Error | null): void => {
      if (!err && client !== null) check(packet)
      callback(err)
    }
    if (inner) inner(client, packet, next)
    else next(null)
  }
}
