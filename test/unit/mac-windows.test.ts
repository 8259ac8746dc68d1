// The recogniser reads a run of hex groups in one pass per rule (reviewer s12: the recursive search
// took 21.8 s on `'ab:'.repeat(16000)` and overflowed the stack at 16,000 MACs). Seeded random runs
// against the recursive search it replaced (test/helpers/macs-reference.ts): the same addresses
// found, in ids and in log lines; and long runs read in linear time, without recursion.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { findMac, redactMacs } from '../../shared/macs.ts'
import * as ref from '../helpers/macs-reference.ts'
import { Rng } from '../../shared/rng.ts'

const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r.next() * xs.length)]
const HEX = '0123456789abcdefABCDEF'
const SEPS = [':', ':', '-', '.', '_', ' ', '::', '/', '+', '%3A', '\u2010']
const WORDS = ['x', 'tag', 'node', ',', 'ble', '"', '<', 'q']

function text(r: Rng): string {
  let s = ''
  const n = 1 + Math.floor(r.next() * 30)
  for (let k = 0; k < n; k++) {
    const x = r.next()
    const glen = x < 0.5 ? 1 + Math.floor(r.next() * 2) : x < 0.7 ? 12 : x < 0.8 ? pick(r, [4, 6, 3]) : x < 0.9 ? 14 + Math.floor(r.next() * 3) : 1
    let grp = Array.from({ length: glen }, () => pick(r, [...HEX])).join('')
    if (glen >= 13 && r.next() < 0.5) grp = '0'.repeat(glen - 12) + grp.slice(glen - 12)
    if (glen === 16 && r.next() < 0.3) grp = `${grp.slice(0, 6)}fffe${grp.slice(10)}`
    s += grp + (r.next() < 0.85 ? pick(r, SEPS) : pick(r, WORDS))
  }
  return s
}

test('5,000 random runs: the same MACs as the recursive search, in ids and in log lines', () => {
  const r = new Rng('mac-windows')
  for (let k = 0; k < 5000; k++) {
    const s = text(r)
    assert.equal(findMac(s), ref.findMac(s), JSON.stringify(s))
    assert.equal(redactMacs(s), ref.redactMacs(s), JSON.stringify(s))
  }
})

test('long runs are read in one pass: 16,000 MACs back to back, and 48,000 groups of two digits', () => {
  const macs = 'aabbccddeeff:'.repeat(16_000)
  assert.equal(redactMacs(macs), '<mac>:'.repeat(16_000))
  assert.equal(findMac(macs), 'aabbccddeeff')
  const groups = `${'ab:'.repeat(48_000)}x`
  assert.equal(redactMacs(groups), `${'<mac>:'.repeat(8_000)}x`)
})

test('a log line loses a bare run of 13 to 24 digits (a MAC run into a hex word, two MACs back to back); an id keeps it', () => {
  for (const [line, want] of [
    ['dropped nodeaabbccddeeff', 'dropped no<mac>'],
    ['dropped bleaabbccddeeff', 'dropped bl<mac>'],
    ['seen xcafeaabbccddeeff', 'seen x<mac>'],
    ['at 1764000000000123', 'at 1764000000000123'],
    ['subject h:0123456789abcdef', 'subject h:0123456789abcdef'],
    ['pair a4c1389f0e01a4c1389f0e02 seen', 'pair <mac> seen'],
    ['tag-a4c1389f0e01ff', 'tag-<mac>'],
    [`irk:${'ab'.repeat(16)}`, `irk:${'ab'.repeat(16)}`]
  ]) {
    assert.equal(redactMacs(line), want, line)
  }
  for (const id of ['nodeaabbccddeeff', 'a4c1389f0e01a4c1389f0e02', 'shelf-tag-0000000000000042']) assert.equal(findMac(id), undefined, id)
})
