// What an MQTT packet can carry (MQTT 3.1.1 §1.5.3, §2.2.3, §3.3): a topic is a UTF-8 string of at
// most 65,535 bytes (a 2-byte length), with no U+0000 and, in a publish, no wildcard; a packet's
// remaining length is at most 268,435,455 bytes. A publish past these is not refused by aedes: it
// writes the length wrapped, and every subscriber reads a corrupt frame and is disconnected. So
// the gateway checks its own output before the broker sees it, whatever made the topic.

/** Longest topic, bytes (its length is a 16-bit field). */
export const MAX_TOPIC_BYTES = 65_535
/** Largest remaining length of a packet, bytes (a 4-byte variable-length integer). */
export const MAX_REMAINING_LENGTH = 268_435_455

export type Unpublishable = 'topic_too_long' | 'bad_topic' | 'too_large'

/** Why `topic` and `payload` cannot go out as one MQTT publish, or null when they can. */
export function unpublishable(topic: string, payload: string): Unpublishable | null {
  const t = Buffer.byteLength(topic)
  if (t > MAX_TOPIC_BYTES) return 'topic_too_long'
  if (t === 0 || topic.includes('+') || topic.includes('#') || topic.includes('\u0000')) return 'bad_topic'
  // Topic length field, topic, packet id (QoS 1), payload; its bytes counted only when it may matter (at most 3 a UTF-16 unit).
  if (4 + t + 3 * payload.length > MAX_REMAINING_LENGTH && 4 + t + Buffer.byteLength(payload) > MAX_REMAINING_LENGTH) return 'too_large'
  return null
}
