// Event and visit ids: ULIDs (48-bit time and 80 more bits, Crockford base32), sortable by time
// and unique without coordination. An event's id is random, persisted with the event before it
// leaves, so a re-send after a crash carries the same id; a visit's id follows from the visit.
import { createHash, randomBytes } from 'node:crypto'

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

export function ulid(timeMs: number): string {
  return encode(timeMs, randomBytes(10))
}

/**
 * A visit's id: a ULID whose time is when the visit began and whose other 80 bits come from
 * what the visit is (store, subject, shop, start), so a replay names its visits the same way
 * (contract §3: events identical apart from event ids) and a visit taken in twice is one visit.
 */
export function visitUlid(enteredAt: number, storeId: string, subject: string, shop: string): string {
  return encode(enteredAt, createHash('sha256').update(`${storeId}\n${subject}\n${shop}\n${enteredAt}`).digest().subarray(0, 10))
}

/** 48 bits of time and 80 bits (10 bytes), Crockford base32. */
function encode(timeMs: number, r: Uint8Array): string {
  let t = Math.max(0, Math.floor(timeMs))
  let time = ''
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time
    t = Math.floor(t / 32)
  }
  let rand = ''
  // 80 bits → 16 characters of 5 bits.
  let acc = 0
  let bits = 0
  for (const byte of r) {
    acc = (acc << 8) | byte
    bits += 8
    while (bits >= 5) {
      bits -= 5
      rand += ALPHABET[(acc >> bits) & 31]
    }
    acc &= (1 << bits) - 1
  }
  return time + rand
}
