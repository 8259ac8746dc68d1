// The MAC recogniser's window search as first written (shared/macs.ts before the linear rewrite): the
// rightmost window, then the text on both sides of it again, recursively. Quadratic and recursive, so
// kept only as the reference the rewrite must equal on short runs (test/unit/mac-windows.test.ts).
const SEP = '[:_.@=+/ \\t\\n\\r\\v\\f-]'
const ONLY_HEX_AND_SEPS = new RegExp(`^(?:[0-9a-f]|${SEP})+$`, 'i')
const UNPADDED = new RegExp(`^[0-9a-f]{1,2}(${SEP}+)[0-9a-f]{1,2}(?:\\1[0-9a-f]{1,2}){4}$`, 'i')
/** Seven or eight octets with one separator throughout: how a widened MAC is written in an id. */
const WIDE_OCTETS = new RegExp(`^[0-9a-f]{2}(${SEP}+)[0-9a-f]{2}(?:\\1[0-9a-f]{2}){5,6}$`, 'i')
const RUN = new RegExp(`[0-9a-f]+(?:${SEP}+[0-9a-f]+)*`, 'gi')

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
function view(text: string): View {
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
function back(v: View, a: number, b: number): [number, number] {
  return v.from.length === 0 ? [a, b] : [v.from[a], v.to[b - 1]]
}

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

function isMacView(s: string): boolean {
  return (ONLY_HEX_AND_SEPS.test(s) && macOfDigits(hexOnly(s), false) !== undefined) || UNPADDED.test(s) || isWideOctets(s)
}

/** Whether a whole string is a MAC address in any recognised form. */
export function isMac(s: string): boolean {
  return isMacView(view(s).s)
}

/** The 12 lower-case hex digits of a MAC (in view form) written in any recognised form. */
function digits(mac: string): string {
  const wide = macOfDigits(hexOnly(mac), true)
  if (wide !== undefined) return wide
  return mac
    .toLowerCase()
    .split(new RegExp(`${SEP}+`))
    .map(p => p.padStart(2, '0'))
    .join('')
}

type Group = { at: number; len: number; sep: string }

/**
 * Where a run of hex groups holds a MAC: [start, end) within the run; undefined when it holds none.
 * `wide`: a widened MAC counts however it is grouped (log lines); otherwise only in octets (ids).
 */
function macInRun(run: string, wide: boolean, word: boolean): [number, number] | undefined {
  const groups: Group[] = []
  let prevEnd = 0
  for (const m of run.matchAll(/[0-9a-f]+/gi)) {
    groups.push({ at: m.index, len: m[0].length, sep: run.slice(prevEnd, m.index) })
    prevEnd = m.index + m[0].length
  }
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
  // Added with the rewrite (reviewer s12), in log lines only: a bare run of 13 to 24 digits, the rightmost.
  const bare = (j: number) =>
    groups[j].len >= 13 &&
    groups[j].len <= 24 &&
    (groups[j].len !== 16 || (word && j === 0 && groups[0].at === 0)) &&
    /[a-f]/i.test(run.slice(groups[j].at, groups[j].at + groups[j].len))
  if (wide) for (let j = groups.length - 1; j >= 0; j--) if (bare(j)) return span(j, j)
  return undefined
}

/** Every MAC in one run starting at `at` in the text: each window found, then the rest on both sides. */
function* macsInRun(run: string, at: number, wide: boolean, word: boolean): Generator<[number, number]> {
  const w = macInRun(run, wide, word)
  if (w === undefined) return
  yield* macsInRun(run.slice(0, w[0]), at, wide, word)
  yield [at + w[0], at + w[1]]
  yield* macsInRun(run.slice(w[1]), at + w[1], wide, false)
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
