// Subjects (contract §4): a BLE id that is not a MAC is the subject as-is; a MAC becomes
// `h:` + the first 16 hex digits of HMAC-SHA256(store secret, lower-case MAC without separators).
// Raw MACs go no further than this module: nothing stores, logs or sends them.
import { createHmac } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

// The one recogniser of MAC addresses, for every id the gateway takes (BLE ids, sensor and device
// ids, topic levels) and every log line it writes. Total on purpose: a spelling we did not think of
// must not let an address through raw (an HP/Aruba `aabbcc-ddeeff`, mixed separators). An id made
// only of hex digits and separators (`:`, `-`, `.`, `_` as BlueZ writes it, space, and the `@`, `=`,
// `+`, `/` the subject grammar also lets through: shared/events.ts SUBJECT) that holds exactly
// 12 hex digits, in any grouping and any case, is a MAC; so are six octets with one separator
// throughout whose leading zeros are left out (`de:ad:be:ef:0:3`).
// A MAC widened to 64 bits (reviewer, s10: a sensor id in a topic written so was logged raw), the
// EUI-64 made from it (`ff:fe` in its middle) or the MAC zero-padded to 13-16 digits, stands for its
// 12-digit MAC. In an id only where it is written as a MAC is, octets with one separator throughout
// (`aa:bb:cc:ff:fe:dd:ee:ff`, `00:aa:bb:cc:dd:ee:ff`): a bare run of 13-16 digits inside an id is a
// serial number or an app id as often as a MAC (reviewer, s11: `shelf-tag-0000000000000042` was
// hashed, so a site beacon so named stopped matching). Log lines take the bare forms too.
// Inside a longer id or a log line the text is cut into runs of hex groups joined by single
// separators (a run never touches another hex digit); a run holding a window of whole groups with
// exactly 12 digits holds a MAC, the rightmost such window (a word ending in a hex letter, as
// `device_` does, runs into the address at its left); a log line is searched again on both sides of
// each window found, since one run may hold several addresses. Legitimate ids stay what they are:
// 16-hex EIDs and 32-hex irk ids are single groups longer than 12 digits (and `eid:`/`irk:` ids are
// never taken for MACs, sensor-ids.ts), iBeacon and Eddystone ids are recognised before any MAC is
// looked for. Over-redacting a log line is harmless; missing an address is a leak; hashing an
// ordinary id breaks its identity.
const SEP_CLASS = '[:_.@=+/ -]'
const ONLY_HEX_AND_SEPS = new RegExp(`^(?:[0-9a-f]|${SEP_CLASS})+$`, 'i')
const UNPADDED = new RegExp(`^[0-9a-f]{1,2}(${SEP_CLASS})[0-9a-f]{1,2}(?:\\1[0-9a-f]{1,2}){4}$`, 'i')
/** Seven or eight octets with one separator throughout: how a widened MAC is written in an id. */
const WIDE_OCTETS = new RegExp(`^[0-9a-f]{2}(${SEP_CLASS})[0-9a-f]{2}(?:\\1[0-9a-f]{2}){5,6}$`, 'i')
const RUN = new RegExp(`[0-9a-f]+(?:${SEP_CLASS}[0-9a-f]+)*`, 'gi')

/**
 * The MAC (12 lower-case hex digits) that a string of hex digits stands for: itself when it has 12;
 * with `wide`, also an EUI-64 made from a MAC (`fffe` after its first 6 digits) or a MAC zero-padded
 * on the left to 13-16 digits.
 */
function macOfDigits(d: string, wide: boolean): string | undefined {
  const h = d.toLowerCase()
  if (h.length === 12) return h
  if (!wide) return undefined
  if (h.length === 16 && h.slice(6, 10) === 'fffe') return h.slice(0, 6) + h.slice(10)
  if (h.length > 12 && h.length <= 16 && /^0+$/.test(h.slice(0, h.length - 12))) return h.slice(h.length - 12)
  return undefined
}

const hexOnly = (s: string): string => s.replace(/[^0-9a-f]/gi, '')

/** A MAC widened to 64 bits and written in octets (`aa:bb:cc:ff:fe:dd:ee:ff`). */
function isWideOctets(s: string): boolean {
  return WIDE_OCTETS.test(s) && macOfDigits(hexOnly(s), true) !== undefined
}

export function isMac(s: string): boolean {
  return (ONLY_HEX_AND_SEPS.test(s) && macOfDigits(hexOnly(s), false) !== undefined) || UNPADDED.test(s) || isWideOctets(s)
}

/** The 12 lower-case hex digits of a MAC written in any recognised form. */
function digits(mac: string): string {
  const wide = macOfDigits(hexOnly(mac), true)
  if (wide !== undefined) return wide
  return mac
    .toLowerCase()
    .split(new RegExp(SEP_CLASS))
    .map(p => p.padStart(2, '0'))
    .join('')
}

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
