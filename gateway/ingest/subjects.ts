// Subjects (contract §4): a BLE id that is not a MAC is the subject as-is; a MAC becomes
// `h:` + the first 16 hex digits of HMAC-SHA256(store secret, lower-case MAC without separators).
// Raw MACs go no further than this module: nothing stores, logs or sends them.
import { createHmac } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

// The one recogniser of MAC addresses lives in shared/macs.ts, shared with the site file's checks.
import { normalizeMac } from '../../shared/macs.ts'

export { type Detail, findMac, isMac, logDetail, normalizeMac, rawDetail, redactMacs, shownDetail } from '../../shared/macs.ts'

/** The file in a gateway's data folder holding its store secret (the MAC hashing key). */
export const SECRET_FILE = 'store-secret'

/** The store secret kept in a gateway's data folder, or null when it has none yet. */
export function readStoreSecret(dir: string): string | null {
  const path = join(dir, SECRET_FILE)
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : null
}

/** Locally administered bit set: a randomized (private) address, not a vendor-assigned one (Wi-Fi). */
export function isRandomizedMac(mac: string): boolean {
  return (parseInt(normalizeMac(mac).slice(0, 2), 16) & 0x02) !== 0
}

/**
 * Whether a BLE address rotates (Core spec Vol 6 Part B 1.3: a random address's top two bits are
 * 11 static, 01 resolvable private, 00 non-resolvable private). `random`: the address type when the
 * sensor sent it (OpenMQTTGateway `mac_type` 1 = random). Without it a public address cannot be
 * told from a non-resolvable one, so only the resolvable pattern (what phones use) and the Wi-Fi
 * locally-administered bit are taken as rotating.
 */
export function isPrivateBleAddress(mac: string, random?: boolean): boolean {
  const top = parseInt(normalizeMac(mac).slice(0, 2), 16) >> 6
  if (random === true) return top === 0 || top === 1
  if (random === false) return false
  return top === 1 || isRandomizedMac(mac)
}

export class SubjectHasher {
  private readonly cache = new Map<string, string>()
  /** Rotating ids' subjects: an EID is heard by every sensor, every second, for its whole quantum. */
  private readonly anonCache = new Map<string, string>()
  constructor(
    private readonly secret: string,
    private readonly maxCache = 50_000
  ) {}

  /** The subject for a MAC address (any case, with or without separators). */
  hash(mac: string): string {
    const cached = this.cache.get(mac)
    if (cached !== undefined) return cached
    const h = 'h:' + createHmac('sha256', this.secret).update(normalizeMac(mac)).digest('hex').slice(0, 16)
    remember(this.cache, mac, h, this.maxCache)
    return h
  }

  /** An anonymous subject for an id that rotates (an EID no registered device explains). */
  anonymous(id: string): string {
    const cached = this.anonCache.get(id)
    if (cached !== undefined) return cached
    const h = 'h:' + createHmac('sha256', this.secret).update(id).digest('hex').slice(0, 16)
    remember(this.anonCache, id, h, this.maxCache)
    return h
  }

  /**
   * anonymous() without remembering the id: for a device id the gateway may not hold (a device
   * without presence consent, or erased, whose phone still publishes under it).
   */
  anonymousOnce(id: string): string {
    return 'h:' + createHmac('sha256', this.secret).update(id).digest('hex').slice(0, 16)
  }

  /** Whether a subject's raw address or id is remembered (erasure tests). */
  holds(subject: string): boolean {
    for (const v of this.cache.values()) if (v === subject) return true
    for (const v of this.anonCache.values()) if (v === subject) return true
    return false
  }

  /**
   * Forgets every remembered address (an erasure): the raw address behind an erased subject must
   * not stay in memory. All of them, since erasures are rare and a cache refills by itself.
   */
  forget(): void {
    this.cache.clear()
    this.anonCache.clear()
  }
}

/** Bounded: randomized MACs are endless, the caches must not be. The oldest entry goes first. */
function remember(cache: Map<string, string>, key: string, value: string, max: number): void {
  if (cache.size >= max) cache.delete(cache.keys().next().value as string)
  cache.set(key, value)
}
