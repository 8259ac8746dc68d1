// The one recogniser of MAC addresses, for every id the gateway takes (BLE ids, sensor and device
// ids, topic levels), every log line it writes and the site file's people lists. Here in shared/ so
// that the site check (shared/people-lists.ts) and the gateway (gateway/ingest/subjects.ts) cannot
// drift apart. Total on purpose: a spelling we did not think of must not let an address through raw
// (an HP/Aruba `aabbcc-ddeeff`, mixed separators, `a4::c1::38` with doubled ones).
// Text is first seen through a "view" (view() below): each code point NFKC-folded (full-width digits
// and colons), `%XX` percent-escapes of ASCII decoded (`%3A`, doubly `%253A`), Unicode dashes,
// colons, dots and spaces folded to their ASCII kin and zero-width characters dropped; positions
// found in the view map back to the text, so a log line is redacted where the address was written.
// In the view, an id made only of hex digits and separators (`:`, `-`, `.`, `_` as BlueZ writes it,
// white space, and the `@`, `=`, `+`, `/` the subject grammar also lets through: shared/events.ts
// SUBJECT), one or several between groups, that holds exactly 12 hex digits, in any grouping and any
// case, is a MAC; so are six octets with one separator (run) throughout whose leading zeros are left
// out (`de:ad:be:ef:0:3`).
// A MAC widened to 64 bits (reviewer, s10: a sensor id in a topic written so was logged raw), the
// EUI-64 made from it (`ff:fe` in its middle) or the MAC zero-padded to 13-16 digits, stands for its
// 12-digit MAC. In an id only where it is written as a MAC is, octets with one separator throughout
// (`aa:bb:cc:ff:fe:dd:ee:ff`, `00:aa:bb:cc:dd:ee:ff`): a bare run of 13-16 digits inside an id is a
// serial number or an app id as often as a MAC (reviewer, s11: `shelf-tag-0000000000000042` was
// hashed, so a site beacon so named stopped matching). Log lines take the bare forms too.
// Inside a longer id or a log line the text is cut into runs of hex groups joined by runs of
// separators (a run never touches another hex digit); a run holding a window of whole groups with
// exactly 12 digits holds a MAC, the rightmost such window (a word ending in a hex letter, as
// `device_` does, runs into the address at its left), then the next one left of it: one run may
// hold several addresses (RULES below, one pass each). A bare run of 13-24 digits glued to a word
// (`nodeaabbccddeeff`, `bleaabbccddeeff`) or holding two MACs (`a4c1389f0e01a4c1389f0e02`) is
// redacted in a log line, and stays in an id as it is, unhashed: no recogniser tells the MAC in it
// from a serial number (reviewer s11), so a sensor that names devices so publishes their addresses
// as ids (docs/sensors.md). Legitimate ids stay what they are:
// 16-hex EIDs and 32-hex irk ids are single groups longer than 12 digits (and `eid:`/`irk:` ids are
// never taken for MACs, gateway/ingest/sensor-ids.ts), iBeacon and Eddystone ids are recognised
// before any MAC is looked for. Over-redacting a log line is harmless; missing an address is a leak;
// hashing an ordinary id breaks its identity.
const SEP = '[:_.@=+/ \\t\\n\\r\\v\\f-]'
const ONLY_HEX_AND_SEPS = new RegExp(`^(?:[0-9a-f]|${SEP})+$`, 'i')
const UNPADDED = new RegExp(`^[0-9a-f]{1,2}(${SEP}+)[0-9a-f]{1,2}(?:\\1[0-9a-f]{1,2}){4}$`, 'i')
/** Seven or eight octets with one separator throughout: how a widened MAC is written in an id. */
const WIDE_OCTETS = new RegExp(`^[0-9a-f]{2}(${SEP}+)[0-9a-f]{2}(?:\\1[0-9a-f]{2}){5,6}$`, 'i')
export const RUN = new RegExp(`[0-9a-f]+(?:${SEP}+[0-9a-f]+)*`, 'gi')

// Unicode look-alikes of the separators, folded to the ASCII one they stand for (those NFKC leaves).
const DASHES = /[\u2010-\u2015\u2212\u2043\ufe58\ufe63\uff0d\u00ad\u058a\u1806\u2e3a\u2e3b\u30fc]/u
const COLONS = /[\u02d0\u02d1\u2236\ua789\ufe13\ufe30\ufe55\uff1a\u0589\u05c3\u16ec\u2254]/u
const DOTS = /[\u00b7\u2022\u2024\u2027\u2219\u22c5\u30fb\uff0e\uff65\u0387]/u
const SPACES = /[\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u
const INVISIBLE = /[\u200b-\u200d\u2060\ufeff\u180e]/u

/** One code point as the recogniser reads it. */
function fold(c: string): string {
  if (DASHES.test(c)) return '-'
  if (COLONS.test(c)) return ':'
  if (DOTS.test(c)) return '.'
  if (SPACES.test(c)) return ' '
  if (INVISIBLE.test(c)) return ''
  return c.charCodeAt(0) < 0x80 ? c : c.normalize('NFKC')
}

type View = { s: string; from: number[]; to: number[] }

/** Decoded `%XX` (and `%25XX`) of an ASCII character at `i`: the character and the escape's length. */
function percentAt(text: string, i: number): [string, number] | undefined {
  const m = /^%(?:25)?([0-7][0-9a-f])/i.exec(text.slice(i, i + 5))
  return m ? [String.fromCharCode(parseInt(m[1], 16)), m[0].length] : undefined
}

/** The text as the recogniser reads it; character i of the view comes from text[from[i], to[i]). */
export function view(text: string): View {
  // The common case, plain ASCII without escapes, costs nothing more than a test.
  if (!/[^ -~\t\n\r]|%/.test(text)) return { s: text, from: [], to: [] }
  let s = ''
  const from: number[] = []
  const to: number[] = []
  let i = 0
  while (i < text.length) {
    const pct = text[i] === '%' ? percentAt(text, i) : undefined
    const cp = text.codePointAt(i) as number
    const len = pct ? pct[1] : cp > 0xffff ? 2 : 1
    const out = pct ? pct[0] : fold(String.fromCodePoint(cp))
    for (const ch of out) {
      s += ch
      from.push(i)
      to.push(i + len)
    }
    i += len
  }
  return { s, from, to }
}

/** A span of a view as a span of the text it was made from. */
export function back(v: View, a: number, b: number): [number, number] {
  return v.from.length === 0 ? [a, b] : [v.from[a], v.to[b - 1]]
}

/**
 * The MAC (12 lower-case hex digits) that a string of hex digits stands for: itself when it has 12;
 * with `wide`, also an EUI-64 made from a MAC (`fffe` after its first 6 digits) or a MAC zero-padded
 * on the left to 13-16 digits.
 */
export function macOfDigits(d: string, wide: boolean): string | undefined {
  const h = d.toLowerCase()
  if (h.length === 12) return h
  if (!wide) return undefined
  if (h.length === 16 && h.slice(6, 10) === 'fffe') return h.slice(0, 6) + h.slice(10)
  if (h.length > 12 && h.length <= 16 && /^0+$/.test(h.slice(0, h.length - 12))) return h.slice(h.length - 12)
  return undefined
}

export const hexOnly = (s: string): string => s.replace(/[^0-9a-f]/gi, '')

/** A MAC widened to 64 bits and written in octets (`aa:bb:cc:ff:fe:dd:ee:ff`). */
export function isWideOctets(s: string): boolean {
  return WIDE_OCTETS.test(s) && macOfDigits(hexOnly(s), true) !== undefined
}

function isMacView(s: string): boolean {
  return (ONLY_HEX_AND_SEPS.test(s) && macOfDigits(hexOnly(s), false) !== undefined) || UNPADDED.test(s) || isWideOctets(s)
}

/** Whether a whole string is a MAC address in any recognised form. */
export function isMac(s: string): boolean {
  return isMacView(view(s).s)
}

/** The 12 lower-case hex digits of a MAC (in view form) written in any recognised form. */
export function digits(mac: string): string {
  const wide = macOfDigits(hexOnly(mac), true)
  if (wide !== undefined) return wide
  return mac
    .toLowerCase()
    .split(new RegExp(`${SEP}+`))
    .map(p => p.padStart(2, '0'))
    .join('')
}

/** A group of hex digits in a run: [at, end) within the run, the separators before it, and whether a letter does instead (`no` of `nodeaabb…`). */
type Group = { at: number; end: number; sep: string; word: boolean }
/** Where the window of groups ending at group `j` (none before `lo`) that a rule takes starts; undefined when it takes none. */
type Rule = (g: Group[], run: string, lo: number, j: number, wide: boolean) => number | undefined

const len = (x: Group): number => x.end - x.at

/** A widened MAC in octets (seven or eight of two digits, one separator run throughout). */
const wideOctets: Rule = (g, run, lo, j) => {
  for (const n of [8, 7]) {
    const i = j - n + 1
    if (i < lo) continue
    let ok = true
    for (let k = i; k <= j && ok; k++) ok = len(g[k]) === 2 && (k < i + 2 || g[k].sep === g[i + 1].sep)
    if (ok && macOfDigits(hexOnly(run.slice(g[i].at, g[j].end)), true) !== undefined) return i
  }
  return undefined
}

/** The widest window ending at `j` whose digits are a MAC (12 digits, or with `wide` a 64-bit spelling of one). */
const twelveDigits: Rule = (g, run, lo, j, wide) => {
  let sum = 0
  let digits = ''
  let found: number | undefined
  for (let i = j; i >= lo && sum < 16; i--) {
    sum += len(g[i])
    if (sum > 16) break
    digits = run.slice(g[i].at, g[i].end) + digits
    if (sum >= 12 && macOfDigits(digits, wide) !== undefined) found = i
  }
  return found
}

/** Six short octets with one separator run throughout (leading zeros left out). */
const shortOctets: Rule = (g, _run, lo, j) => {
  const i = j - 5
  if (i < lo) return undefined
  for (let k = i; k <= j; k++) if (len(g[k]) > 2 || (k >= i + 2 && g[k].sep !== g[i + 1].sep)) return undefined
  return i
}

/**
 * In a log line only, a bare run of 13 to 24 digits: a MAC run into a word that ends in hex letters
 * (`nodeaabbccddeeff`, `bleaabbccddeeff`), a MAC with a counter after it or two MACs back to back.
 * Not 16 digits standing alone (the log names subjects, `h:` and 16 digits, and EIDs so), nor
 * decimal digits only (a time in milliseconds has 13). An id keeps any such run (a serial number or
 * an app id as often as a MAC: reviewer s11).
 */
const bareRun: Rule = (g, run, _lo, j, wide) => {
  const n = len(g[j])
  if (!wide || n < 13 || n > 24 || (n === 16 && !g[j].word)) return undefined
  return /[a-f]/i.test(run.slice(g[j].at, g[j].end)) ? j : undefined
}

/**
 * The rules in order of precedence: a widened MAC in octets first (its last six octets alone would
 * pass for a different MAC), then 12 digits, then short octets, then (log lines) a bare run. A rule takes the rightmost window it
 * can, then the next one left of it, and so on; a later rule looks only between the windows taken
 * (a word ending in a hex letter, as `device_` does, runs into the address at its left).
 */
const RULES: Rule[] = [wideOctets, twelveDigits, shortOctets, bareRun]

/**
 * The windows (first and last group) that rules `r`.. take in groups [lo, hi), left to right. One
 * pass right to left per rule over each stretch: linear in the run (a run of thousands of groups
 * is a stranger's topic, read on the broker's thread), and no recursion deeper than the rules.
 */
function windows(g: Group[], run: string, lo: number, hi: number, wide: boolean, r: number, out: Array<[number, number]>): void {
  if (r === RULES.length || hi <= lo) return
  const taken: Array<[number, number]> = []
  for (let j = hi - 1; j >= lo; ) {
    const i = RULES[r](g, run, lo, j, wide)
    if (i === undefined) j--
    else {
      taken.push([i, j])
      j = i - 1
    }
  }
  let from = lo
  for (let k = taken.length - 1; k >= 0; k--) {
    windows(g, run, from, taken[k][0], wide, r + 1, out)
    out.push(taken[k])
    from = taken[k][1] + 1
  }
  windows(g, run, from, hi, wide, r + 1, out)
}

/** Every MAC in one run starting at `at` in the text, in order. */
function* macsInRun(run: string, at: number, wide: boolean, word: boolean): Generator<[number, number]> {
  const g: Group[] = []
  let prevEnd = 0
  for (const m of run.matchAll(/[0-9a-f]+/gi)) {
    g.push({ at: m.index, end: m.index + m[0].length, sep: run.slice(prevEnd, m.index), word: word && m.index === 0 })
    prevEnd = m.index + m[0].length
  }
  const out: Array<[number, number]> = []
  windows(g, run, 0, g.length, wide, 0, out)
  for (const [i, j] of out) yield [at + g[i].at, at + g[j].end]
}

/** Every MAC in a view's text, in order: where it starts and ends in the view. */
function* macsIn(s: string, wide: boolean): Generator<[number, number]> {
  for (const m of s.matchAll(RUN)) yield* macsInRun(m[0], m.index, wide, m.index > 0 && /[g-z]/i.test(s[m.index - 1]))
}

/** A MAC anywhere in an id, as 12 lower-case hex digits; undefined when there is none. */
export function findMac(text: string): string | undefined {
  const { s } = view(text)
  for (const [a, b] of macsIn(s, false)) return digits(s.slice(a, b))
  return undefined
}

/** Replaces anything that looks like a MAC address, for log lines. */
export function redactMacs(text: string): string {
  const v = view(text)
  let out = ''
  let from = 0
  for (const [va, vb] of macsIn(v.s, true)) {
    const [a, b] = back(v, va, vb)
    out += text.slice(from, a) + '<mac>'
    from = b
  }
  return out + text.slice(from)
}

/** A MAC as 12 lower-case hex digits (any recognised form); anything else lower-cased without separators. */
export function normalizeMac(mac: string): string {
  const { s } = view(mac)
  return isMacView(s) ? digits(s) : mac.toLowerCase().replace(/[:. -]/g, '')
}

/** A character that may belong to a written address: a hex digit, a separator, an escape or a look-alike. */
const RUN_CHAR = /[0-9a-f:_.@=+/%\s-]|[^\x20-\x7e]/i

/**
 * A piece of untrusted text for a log line, at most `max` characters: addresses redacted first, then
 * cut (cut first, an address across the cut was no longer recognised and most of its digits reached
 * the log: tester s12 G). The redaction reads a bounded head (4 × `max`: a flood of long topics must
 * not cost more); a run of hex digits and separators that a cut goes through is dropped whole, since
 * it may be the head of an address written longer than that: the cut at `max`, and the head's own
 * end when the text went on past it (reviewer s12: `…,x,4c:57:c` reached the log).
 */
export function logDetail(text: string, max: number): string {
  const headCut = text.length > max * 4
  let r = redactMacs(headCut ? text.slice(0, max * 4) : text)
  if (headCut) r = r.slice(0, runStart(r, r.length))
  if (r.length <= max) return r
  return r.slice(0, RUN_CHAR.test(r[max]) ? runStart(r, max) : max)
}

/** Where the run of characters that may belong to an address, ending at `end`, starts. */
function runStart(r: string, end: number): number {
  let i = end
  while (i > 0 && RUN_CHAR.test(r[i - 1])) i--
  return i
}

/**
 * Untrusted text for a log line that may never be written (a rejection is logged at most once a
 * minute per reason, and redacting costs far more than rejecting: reviewer s12, a topic of
 * `ab:` × 300 took 5 ms a message on the broker's thread). It keeps what logDetail reads of the
 * text, raw: the head and whether the text went on past it, so logDetail gives the same line from
 * it as from the whole text. `label` is trusted text written before it.
 */
export type RawDetail = { readonly raw: string; readonly max: number; readonly label: string }
/** A rejection's detail: trusted text (numbers, fixed reasons), or untrusted text kept raw. */
export type Detail = string | RawDetail

export function rawDetail(text: string, max: number, label = ''): RawDetail {
  return { raw: text.length > max * 4 ? text.slice(0, max * 4 + 1) : text, max, label }
}

/** A detail as a log line shows it: redacted, and untrusted text cut (logDetail). */
export function shownDetail(d: Detail): string {
  return typeof d === 'string' ? redactMacs(d) : d.label + logDetail(d.raw, d.max)
}
