// Subjects (contract §4): a BLE id that is not a MAC is the subject as-is; a MAC becomes
// `h:` + the first 16 hex digits of HMAC-SHA256(store secret, lower-case MAC without separators).
// Raw MACs go no further than this module: nothing stores, logs or sends them.
import { createHmac } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

// Every way sensors and tools write a MAC: bare, `:`/`-`/`.`/space between bytes, Cisco's aabb.ccdd.eeff.
const MAC_RE = /^(?:[0-9a-f]{2}([:. -]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4})$/i

export function isMac(s: string): boolean {
  return MAC_RE.test(s)
}

/** The file in a gateway's data folder holding its store secret (the MAC hashing key). */
export const SECRET_FILE = 'store-secret'

/** The store secret kept in a gateway's data folder, or null when it has none yet. */
export function readStoreSecret(dir: string): string | null {
  const path = join(dir, SECRET_FILE)
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : null
}

/** Locally administered bit set: a randomized (private) address, not a vendor-assigned one (Wi-Fi). */
export function isRandomizedMac(mac: string): boolean {
  return (parseInt(mac.slice(0, 2), 16) & 0x02) !== 0
}

/**
 * Whether a BLE address rotates (Core spec Vol 6 Part B 1.3: a random address's top two bits are
 * 11 static, 01 resolvable private, 00 non-resolvable private). `random`: the address type when the
 * sensor sent it (OpenMQTTGateway `mac_type` 1 = random). Without it a public address cannot be
 * told from a non-resolvable one, so only the resolvable pattern (what phones use) and the Wi-Fi
 * locally-administered bit are taken as rotating.
 */
export function isPrivateBleAddress(mac: string, random?: boolean): boolean {
  const top = parseInt(mac.slice(0, 2), 16) >> 6
  if (random === true) return top === 0 || top === 1
  if (random === false) return false
  return top === 1 || isRandomizedMac(mac)
}

// Bounded by non-hex characters rather than \b: a MAC after `_` or `0x` is still a MAC.
const ANY_MAC = /(?<![0-9a-f])(?:[0-9a-f]{2}(?:[:. -]?[0-9a-f]{2}){5}|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4})(?![0-9a-f])/gi

/** Replaces anything that looks like a MAC address, for log lines. */
export function redactMacs(text: string): string {
  return text.replace(ANY_MAC, '<mac>')
}

export function normalizeMac(mac: string): string {
  return mac.toLowerCase().replace(/[:. -]/g, '')
}

export class SubjectHasher {
  private readonly cache = new Map<string, string>()
  constructor(
    private readonly secret: string,
    private readonly maxCache = 50_000
  ) {}

  /** The subject for a MAC address (any case, with or without separators). */
  hash(mac: string): string {
    const cached = this.cache.get(mac)
    if (cached !== undefined) return cached
    const h = 'h:' + createHmac('sha256', this.secret).update(normalizeMac(mac)).digest('hex').slice(0, 16)
    // Bounded: randomized MACs are endless, the cache must not be.
    if (this.cache.size >= this.maxCache) this.cache.delete(this.cache.keys().next().value as string)
    this.cache.set(mac, h)
    return h
  }

  /** An anonymous subject for an id that rotates (an EID no registered device explains). */
  anonymous(id: string): string {
    return 'h:' + createHmac('sha256', this.secret).update(id).digest('hex').slice(0, 16)
  }
}
