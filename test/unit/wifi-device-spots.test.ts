// One radio at a learned fixture's spot (gateway/presence/wifi-device-spots.ts): of the pieces of its
// model there, those that follow one another in time with the most bursts; a piece learned as the
// fixture is always one of them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FixtureSpots, oneRadio } from '../../gateway/presence/wifi-device-spots.ts'
import type { WifiDevice } from '../../gateway/presence/wifi-device-types.ts'

function piece(address: string, firstTs: number, lastTs: number, bursts: number, fixture = false): WifiDevice {
  return { address, firstTs, lastTs, bursts, fixture } as Partial<WifiDevice> as WifiDevice
}

test('one radio among the pieces at a spot', () => {
  const cases: Array<{ name: string; pieces: WifiDevice[]; radio: string[] }> = [
    { name: 'one piece', pieces: [piece('a', 0, 100, 3)], radio: ['a'] },
    { name: 'a piece after another went quiet: one radio', pieces: [piece('a', 0, 100, 30), piece('b', 150, 150, 1)], radio: ['a', 'b'] },
    { name: 'two heard at once: the one with more bursts', pieces: [piece('a', 0, 300, 30), piece('b', 150, 310, 2)], radio: ['a'] },
    { name: 'the learned fixture, though a phone beside it was heard more', pieces: [piece('a', 0, 300, 2, true), piece('b', 50, 310, 9)], radio: ['a'] },
    {
      name: 'the fixture, its next piece, and a phone heard across both',
      pieces: [piece('f', 0, 100, 40, true), piece('s', 90, 400, 5), piece('n', 200, 390, 3)],
      radio: ['f', 'n']
    }
  ]
  for (const c of cases)
    assert.deepEqual(
      oneRadio(c.pieces)
        .map(d => d.address)
        .sort(),
      c.radio,
      c.name
    )
})

test('an erased address forgets the fixture spot learned from it; another address keeps its own', () => {
  const device = (address: string, x: number): WifiDevice =>
    ({
      address,
      stable: false,
      fp: 'ie0001',
      bursts: 4,
      sumX: 4 * x,
      sumY: 8,
      firstTs: 0,
      lastTs: 300,
      last: { floor: 0 },
      flood: false,
      suspect: false
    }) as Partial<WifiDevice> as WifiDevice
  const spots = new FixtureSpots(6)
  spots.learn(device('h:erased', 2), 1e12)
  spots.learn(device('h:kept', 30), 1e12)
  assert.equal(spots.radios([device('h:new1', 2), device('h:new2', 30)]).size, 2)
  spots.forgetSubject('h:erased')
  assert.deepEqual(
    [...spots.radios([device('h:new1', 2), device('h:new2', 30)])].map(d => d.address),
    ['h:new2']
  )
})

test('two spots of one model a few metres apart take two radios from their pooled pieces, one spot alone one (repro: a piece whose mean lay between them counted)', () => {
  const at = (address: string, x: number, firstTs: number, lastTs: number): WifiDevice =>
    ({
      address,
      stable: false,
      fp: 'ie0001',
      bursts: 6,
      sumX: 6 * x,
      sumY: 12,
      firstTs,
      lastTs,
      last: { floor: 0 },
      flood: false,
      suspect: false
    }) as Partial<WifiDevice> as WifiDevice
  // Two always-on devices at x 5 and x 10 whose chains mixed: both pieces' means nearer x 5.
  const pieces = () => [at('p1', 6, 0, 300), at('p2', 7, 100, 400)]
  const two = new FixtureSpots(6)
  two.add({ fp: 'ie0001', floor: 0, x: 5, y: 2, intervalMs: 180_000 })
  two.add({ fp: 'ie0001', floor: 0, x: 10, y: 2, intervalMs: 180_000 })
  assert.equal(two.spots.length, 2)
  assert.equal(two.radios(pieces()).size, 2)
  // One fixture learned from its chain, and again across chains at its place: one spot, one radio.
  const one = new FixtureSpots(6)
  one.learn(at('h:chain', 5, 0, 300), 1e12)
  one.add({ fp: 'ie0001', floor: 0, x: 6, y: 2, intervalMs: 180_000 })
  assert.equal(one.spots.length, 1)
  assert.equal(one.radios(pieces()).size, 1, 'a phone of its model heard beside the one fixture counts')
  // A spot learned across chains goes when its model falls silent there; one a chain taught stays its week.
  one.remove(one.spots[0])
  assert.equal(one.spots.length, 1)
  two.remove(two.spots[1])
  assert.equal(two.spots.length, 1)
})
