// Event and visit ids: ULIDs (48-bit time, 80 random bits, Crockford base32), sortable by time
// and unique without coordination. Persisted with the event before it leaves, so a re-send after
// a crash carries the same id.
import { randomBytes } from 'node:crypto'

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

export function ulid (timeMs: number): string {
  let t = Math.max(0, Math.floor(timeMs))
  let time = ''
  for (let i = 0; i < 10; i++) { time = ALPHABET[t % 32] + time; t = Math.floor(t / 32) }
  const r = randomBytes(10)
  let rand = ''
  // 80 bits → 16 characters of 5 bits.
  let acc = 0; let bits = 0
  for (const byte of r) {
    acc = (acc << 8) | byte; bits += 8
    while (bits >= 5) { bits -= 5; rand += ALPHABET[(acc >> bits) & 31] }
    acc &= (1 << bits) - 1
  }
  return time + rand
}
