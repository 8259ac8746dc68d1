// Subjects (contract §4): a BLE id that is not a MAC is the subject as-is; a MAC becomes
// `h:` + the first 16 hex digits of HMAC-SHA256(store secret, lower-case MAC without separators).
// Raw MACs go no further than this module: nothing stores, logs or sends them.
import { createHmac } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { hexOnly, isMac, isWideOctets, macDigits as digits, macOfDigits, SEP_CLASS } from '../../shared/mac.ts'

export { isMac }

// The MAC recogniser itself is shared/mac.ts (the site check uses it too).
const RUN = new RegExp(`[0-9a-f]+(?:${SEP_CLASS}[0-9a-f]+)*`, 'gi')

type Group = { at: number; len: number; sep: string }

/**
 * Where a run of hex groups holds a MAC: [start, end) within the run; undefined when it holds none.
 * `wide`: a widened MAC counts however it is grouped (log lines); otherwise only in octets (ids).
 */
function macInRun(run: string, wide: boolean): [number, number] | undefined {
  const groups: Group[] = []
  for (const m of run.matchAll(/[0-9a-f]+/gi)) groups.push({ at: m.index, len: m[0].length, sep: m.index > 0 ? run[m.index - 1] : '' })
  const span = (i: number, j: number): [number, number] => [groups[i].at, groups[j].at + groups[j].len]
  // A widened MAC in octets first: its last six octets alone would pass for a different MAC.
  for (let j = groups.length - 1; j >= 6; j--) {
    for (const n of [8, 7]) {
      if (j - n + 1 < 0) continue
      const [a, b] = span(j - n + 1, j)
      if (isWideOctets(run.slice(a, b))) return [a, b]
    }
  }
  // The widest window that is a MAC (12 digits, or with `wide` a 64-bit spelling of one) ending at the rightmost group that ends one.
  for (let j = groups.length - 1; j >= 0; j--) {
    let sum = 0
    let found: [number, number] | undefined
    for (let i = j; i >= 0 && sum < 16; i--) {
      sum += groups[i].len
      if (sum >= 12 && macOfDigits(hexOnly(run.slice(...span(i, j))), wide) !== undefined) found = span(i, j)
    }
    if (found !== undefined) return found
  }
  // Six short octets with one separator throughout (leading zeros left out), the rightmost.
  for (let j = groups.length - 1; j >= 5; j--) {
    const six = groups.slice(j - 5, j + 1)
    if (six.every(g => g.len <= 2) && six.slice(2).every(g => g.sep === six[1].sep)) return span(j - 5, j)
  }
  return undefined
}

/** Every MAC in one run starting at `at` in the text: each window found, then the rest on both sides. */
function* macsInRun(run: string, at: number, wide: boolean): Generator<[number, number]> {
  const w = macInRun(run, wide)
  if (w === undefined) return
  yield* macsInRun(run.slice(0, w[0]), at, wide)
  yield [at + w[0], at + w[1]]
  yield* macsInRun(run.slice(w[1]), at + w[1], wide)
}

/** Every MAC in `text`, in order: where it starts and ends. */
function* macsIn(text: string, wide: boolean): Generator<[number, number]> {
  for (const m of text.matchAll(RUN)) yield* macsInRun(m[0], m.index, wide)
}

/** A MAC anywhere in an id, as 12 lower-case hex digits; undefined when there is none. */
export function findMac(text: string): string | undefined {
  for (const [a, b] of macsIn(text, false)) return digits(text.slice(a, b))
  return undefined
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

/** Replaces anything that looks like a MAC address, for log lines. */
export function redactMacs(text: string): string {
  let out = ''
  let from = 0
  for (const [a, b] of macsIn(text, true)) {
    out += text.slice(from, a) + '<mac>'
    from = b
  }
  return out + text.slice(from)
}

/** A MAC as 12 lower-case hex digits (any recognised form); anything else lower-cased without separators. */
export function normalizeMac(mac: string): string {
  return isMac(mac) ? digits(mac) : mac.toLowerCase().replace(/[:. -]/g, '')
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
