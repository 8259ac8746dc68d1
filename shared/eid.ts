// Eddystone-EID (google/eddystone, eddystone-eid/eid-computation.md): what an app advertises
// instead of a fixed id. From a 16-byte identity key the server issued and a seconds counter:
//   temporary key = AES-128(identity key, 11 × 0x00 | 0xFF | 0x00 0x00 | counter >> 16, 2 bytes BE)
//   EID           = first 8 bytes of AES-128(temporary key, 11 × 0x00 | K | counter with its K low bits cleared, 4 bytes BE)
// Our counter is Unix time in seconds (so server, gateways and phones agree without registering a
// clock offset); a new EID every 2^K s, a new temporary key every 2^16 s (an "epoch").
// One implementation for the server, the gateway and the simulator (the SDK has its WebCrypto twin).
import { createCipheriv, createHash } from 'node:crypto'

/** Rotation exponent default: a new id every 2^10 s (about 17 minutes). */
export const DEFAULT_K = 10
/** Temporary keys change when the counter's top 16 bits do: every 2^16 s (about 18 hours). */
export const EPOCH_BITS = 16

export const KEY_HEX = /^[0-9a-f]{32}$/
export const EID_HEX = /^[0-9a-f]{16}$/

function aes(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv('aes-128-ecb', key, null)
  c.setAutoPadding(false)
  return Buffer.concat([c.update(block), c.final()])
}

/** The counter for a time in ms (Unix seconds, 32 bits). */
export function counterAt(ms: number): number {
  return Math.floor(ms / 1000) >>> 0
}

/** The epoch (counter >> 16) a counter falls in: which temporary key it uses. */
export function epochOf(counter: number): number {
  return counter >>> EPOCH_BITS
}

/** The rotation quantum (counter >> K) a counter falls in: which EID it shows. */
export function quantumOf(counter: number, k: number): number {
  return Math.floor(counter / 2 ** k)
}

/** First counter of a quantum. */
export function quantumStart(quantum: number, k: number): number {
  return (quantum * 2 ** k) >>> 0
}

/** The temporary key of an epoch, from the identity key (both 16 bytes). */
export function temporaryKey(identityKey: Buffer, epoch: number): Buffer {
  const b = Buffer.alloc(16)
  b[11] = 0xff
  b.writeUInt16BE(epoch & 0xffff, 14)
  return aes(identityKey, b)
}

/**
 * The temporary keys of epochs `epoch` and `epoch + 1` as 64 hex digits (32 each): one cipher for
 * both blocks (ECB encrypts blocks independently), for the server's lists of many devices.
 */
export function temporaryKeyPairHex(identityKey: Buffer, epoch: number): string {
  const b = Buffer.alloc(32)
  b[11] = 0xff
  b.writeUInt16BE(epoch & 0xffff, 14)
  b[27] = 0xff
  b.writeUInt16BE((epoch + 1) & 0xffff, 30)
  const c = createCipheriv('aes-128-ecb', identityKey, null)
  c.setAutoPadding(false)
  return c.update(b).toString('hex')
}

/** The 8-byte EID for a counter, from the temporary key of its epoch. */
export function eidFromTemporaryKey(tk: Buffer, k: number, counter: number): Buffer {
  const b = Buffer.alloc(16)
  b[11] = k
  b.writeUInt32BE(quantumStart(quantumOf(counter, k), k), 12)
  return aes(tk, b).subarray(0, 8)
}

/** The EID (16 hex digits) an identity key shows at a counter. */
export function eid(identityKey: Buffer, k: number, counter: number): string {
  return eidFromTemporaryKey(temporaryKey(identityKey, epochOf(counter)), k, counter).toString('hex')
}

/** `eid:<16 hex>`, the BLE reading id of contract §2, for a key at a time in ms. */
export function eidReadingId(identityKey: Buffer, k: number, ms: number): string {
  return 'eid:' + eid(identityKey, k, counterAt(ms))
}

/** Subject namespaces only the gateway assigns: a reading may never claim one. */
export const RESERVED_ID = /^(app|h):/i

/**
 * The form of a device id the central server issues (a uuid; any case, with or without dashes, as
 * a phone may spell it), lower case with dashes; undefined for any other id.
 */
export function deviceIdForm(id: string): string | undefined {
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return id.toLowerCase()
  if (!/^[0-9a-f]{32}$/i.test(id)) return undefined
  const h = id.toLowerCase()
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/**
 * What a gateway's config says of a device's id (its `scan`): 32 hex digits of SHA-256 over the
 * id in deviceIdForm. A phone in phone-scan mode publishes under its device id; the gateway finds
 * its subject by this digest, so a stolen config names no device id (with which anyone could
 * publish scans as that phone in any store).
 */
export function deviceIdDigest(deviceId: string): string {
  return createHash('sha256')
    .update('instore device id\n' + (deviceIdForm(deviceId) ?? deviceId))
    .digest('hex')
    .slice(0, 32)
}
