// The bound on new stable BLE ids per sensor and minute (gateway/presence/stable-ids.ts), table-driven.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { StableIdGate, STABLE_ID_MEMORY_MS } from '../../gateway/presence/stable-ids.ts'

const T = 1764000000000

test('a sensor gives at most its limit of new stable ids a minute; past it new ids are refused, admitted ones stay', () => {
  const g = new StableIdGate(30)
  const verdicts: boolean[] = []
  for (let i = 0; i < 60; i++) verdicts.push(g.admit(`ibeacon:x:1:${i}`, 'b1', T + i * 500))
  assert.deepEqual([verdicts.indexOf(false), verdicts.lastIndexOf(true)], [30, 29])
  assert.equal(g.admit('ibeacon:x:1:3', 'b1', T + 40_000), true, 'admitted before the flood: kept')
  assert.equal(g.admit('ibeacon:x:1:45', 'b1', T + 40_000), false, 'refused: kept refused')
  assert.deepEqual(g.flooded(), ['b1'])
  assert.equal(g.refused, 30)
})

test("an id young at several sensors is every one's newcomer; proven ids are exempt", () => {
  const g = new StableIdGate(5)
  for (let i = 0; i < 5; i++) for (const s of ['b1', 'b2']) assert.equal(g.admit(`tag${i}`, s, T + i), true)
  // b2 heard it first, b1 a second later: b1 is flooded too, and the young id refused.
  assert.equal(g.admit('tag9', 'b2', T + 10), false)
  assert.equal(g.admit('tag10', 'b3', T + 10), true)
  assert.equal(g.admit('tag10', 'b1', T + 1000), false, 'refused where it is flooded while young')
  for (let i = 0; i < 20; i++) assert.equal(g.admit(`app:${i}`, 'b1', T + 2000), true)
})

test('an irk: id is exempt only when the site lists its key; any other irk: id is limited like every stable id', () => {
  const key = `irk:${'ab'.repeat(16)}`
  const g = new StableIdGate(5, [key])
  for (let i = 0; i < 5; i++) assert.equal(g.admit(`tag${i}`, 'b1', T + i), true)
  // b1 is flooded: a sender naming its inventions irk: gets no exemption (tester G, s9 report 1).
  for (let i = 0; i < 20; i++) assert.equal(g.admit(`irk:${i.toString(16).padStart(32, '0')}`, 'b1', T + 2000), false)
  assert.equal(g.admit(key, 'b1', T + 2000), true, 'a configured key: proven')
  assert.equal(g.admit(key.toUpperCase().replace('IRK:', 'irk:'), 'b1', T + 2000), true, 'hex case does not matter')
})

test('silent past the memory, an id is new again; the map stays bounded', () => {
  const g = new StableIdGate(1000)
  for (let i = 0; i < 200; i++) g.admit(`tag${i}`, 'b1', T + i)
  for (let i = 0; i < 200; i++) g.admit(`late${i}`, 'b1', T + STABLE_ID_MEMORY_MS + 1000 + i)
  assert.ok(g.size <= 250, `${g.size}`)
})

test('a flood that stops at once is no longer reported a minute later on the clock, though no stable id is heard after it (repro: reported for as long as none was)', () => {
  const g = new StableIdGate(30)
  for (let i = 0; i < 60; i++) g.admit(`ibeacon:x:1:${i}`, 'b1', T + i * 500)
  assert.deepEqual(g.flooded(T + 30_000), ['b1'])
  // Only app phones heard after it: proven, they move no time of the gate's own.
  g.admit('app:1', 'b1', T + 200_000)
  assert.deepEqual(g.flooded(T + 60_000), ['b1'], 'more than 30 new ids within the last minute')
  assert.deepEqual(g.flooded(T + 90_000), [], 'a minute after the last new id')
  assert.deepEqual(g.flooded(), [], 'and stays cleared')
})
