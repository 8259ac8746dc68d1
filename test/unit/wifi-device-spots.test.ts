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
