// A MAC however a stranger spells it (tester s12 G: `tag-a4::c1::38::9f::0e::01` stayed raw):
// runs of separators, mixes, white space, Unicode dashes and colons, `%3A` escapes, full-width
// digits. Property-style: seeded random spellings of random MACs, alone, inside an id and inside a
// log line, against the one recogniser; and the ids that are not MACs keep their identity.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { findMac, isMac, normalizeMac, redactMacs } from '../../gateway/ingest/subjects.ts'
import { classifyBleId } from '../../gateway/ingest/sensor-ids.ts'
import { peopleListProblems } from '../../shared/people-lists.ts'
import { Rng } from '../../shared/rng.ts'

const SEPS = [
  ':',
  '-',
  '.',
  '_',
  ' ',
  '\t',
  '::',
  '__',
  '--',
  ' : ',
  ':-',
  '..',
  '\u2010',
  '\u2013',
  '\u2014',
  '\u2212',
  '\uff1a',
  '\ua789',
  '\u00a0',
  '\u3000',
  '%3A',
  '%3a',
  '%2D',
  '%253A',
  '%20',
  '/',
  '+',
  '\u200b:'
]
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r.next() * xs.length)]

/** 12 hex digits cut into groups of 1 to 4 (or octets), each joined by a separator (run). */
function spell(r: Rng, mac: string): string {
  const cased = [...mac].map(c => (r.next() < 0.5 ? c.toUpperCase() : c)).join('')
  const octets = r.next() < 0.5
  const groups: string[] = []
  for (let i = 0; i < 12; ) {
    const n = octets ? 2 : Math.min(12 - i, 1 + Math.floor(r.next() * 4))
    groups.push(cased.slice(i, i + n))
    i += n
  }
  const one = pick(r, SEPS)
  const same = r.next() < 0.5
  const wide = r.next() < 0.1
  const g = wide ? groups.map(x => [...x].map(c => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join('')) : groups
  return g.map((x, i) => (i === 0 ? x : (same ? one : pick(r, SEPS)) + x)).join('')
}

const randomMac = (r: Rng): string => Array.from({ length: 12 }, () => '0123456789abcdef'[Math.floor(r.next() * 16)]).join('')

test('2,000 random spellings of random MACs: recognised alone, inside an id and redacted in a log line', () => {
  const r = new Rng('mac-spellings')
  for (let k = 0; k < 2000; k++) {
    const mac = randomMac(r)
    const s = spell(r, mac)
    assert.equal(isMac(s), true, JSON.stringify(s))
    assert.equal(normalizeMac(s), mac, JSON.stringify(s))
    const id = `${pick(r, ['tag-', 'tag_', 'shelf tag ', 'known:', 'x/', 'tag%2F'])}${s}${pick(r, ['', '-tag', ' #7', '/rssi'])}`
    assert.equal(findMac(id), mac, JSON.stringify(id))
    assert.deepEqual(classifyBleId(id), { kind: 'mac', mac }, JSON.stringify(id))
    const line = `{"msg":"dropped","detail":"home/nosuch/BTtoMQTT/${s}","n":3}`
    const red = redactMacs(line)
    assert.equal(red.includes('<mac>'), true, JSON.stringify(line))
    assert.equal(findMac(red.replaceAll('<mac>', ' ')), undefined, `${JSON.stringify(line)} -> ${red}`)
    assert.equal(peopleListProblems({ fixtures: [s] }).length, 0, JSON.stringify(s))
  }
})

test('the spellings the tester sent (doubled separators) are MACs', () => {
  assert.equal(findMac('tag-a4::c1::38::9f::0e::01'), 'a4c1389f0e01')
  assert.equal(findMac('tag_a4__c1__38__9f__0e__5b'), 'a4c1389f0e5b')
  assert.equal(redactMacs('home/nosuch/BTtoMQTT/a4::c1::38::9f::0e::5d'), 'home/nosuch/BTtoMQTT/<mac>')
  assert.equal(redactMacs('devices/a4%3Ac1%3A38%3A9f%3A0e%3A5e/scans'), 'devices/<mac>/scans')
})

test('ids that are not MACs keep their identity whatever their separators', () => {
  const r = new Rng('not-macs')
  for (let k = 0; k < 500; k++) {
    const hex = (n: number) => Array.from({ length: n }, () => pick(r, [...'0123456789abcdefABCDEF'])).join('')
    const uuid = `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`
    const stable: string[] = [`irk:${hex(32)}`, `eid:${hex(16)}`, `shelf-tag-${'0'.repeat(2 + (k % 3))}${'1234567890123'.slice(0, 11 + (k % 3))}`]
    for (const id of stable) assert.equal(classifyBleId(id).kind, 'stable', id)
    const ib = classifyBleId(`iBeacon:${uuid}-${k % 65536}-${(k * 7) % 65536}`)
    assert.deepEqual(ib, { kind: 'stable', id: `ibeacon:${uuid.toLowerCase()}:${k % 65536}:${(k * 7) % 65536}` })
  }
  for (const id of ['app-user-42', 'shelf 1 2 3', '2026-12-07', 'dev-1', 'eid:0011223344556677', 'irk::aabbccddeeff']) assert.equal(classifyBleId(id).kind, 'stable', id)
})
