// The MAC recogniser's window search as first written (shared/macs.ts before the linear rewrite): the
// rightmost window, then the text on both sides of it again, recursively. Quadratic and recursive, so
// kept only as the reference the rewrite must equal on short runs (test/unit/mac-windows.test.ts).
// The text's view, its groups and what a window of digits is are today's (shared/macs.ts).
import { back, digits, hexOnly, isWideOctets, macOfDigits, RUN, view } from '../../shared/macs.ts'

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
