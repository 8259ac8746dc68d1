// A fixture's spot learned across chains (gateway/presence/model-spots.ts) meeting one its chain
// taught at the same place (gateway/presence/wifi-device-spots.ts): each lives by its own rule, the
// chain's a week, the other while its model is heard there (repro: issue 32, review 1).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FixtureSpots } from '../../gateway/presence/wifi-device-spots.ts'
import { ModelSpots } from '../../gateway/presence/model-spots.ts'
import { SLOT_MS, DAY_MS, type Burst, type WifiDevice } from '../../gateway/presence/wifi-device-types.ts'

const WEEK_MS = 7 * DAY_MS
const burst = (ts: number): Burst => ({ ts, x: 5, y: 5, floor: 0, shop: 'shop', sector: null, maxRssi: -60, depth: 2, seq: null, fp: 'ie0001', sensor: 's1' })

/** A piece of the always-on device at (5, 5), learned as a fixture from its chain (10 bursts, 1 a minute up to `lastTs`). */
const piece = (address: string, lastTs: number): WifiDevice =>
  ({ address, stable: false, fp: 'ie0001', bursts: 10, sumX: 50, sumY: 50, firstTs: lastTs - 9 * 60_000, lastTs, last: { floor: 0 } }) as Partial<WifiDevice> as WifiDevice

function setup() {
  const spots = new FixtureSpots(6)
  const model = new ModelSpots(6, 0.7, () => true, spots)
  let t = 0
  /** Its model heard there twice a slot up to `until`, the week-old spots forgotten every hour as the gateway does. */
  const hear = (until: number) => {
    for (; t < until; t += SLOT_MS / 2) {
      model.observe(burst(t))
      if (t % (6 * SLOT_MS) === 0) {
        spots.forgetBefore(t)
        model.flush(t)
      }
    }
  }
  return { spots, model, hear, now: () => t }
}

test('a spot learned across chains where a chain taught one outlives that one: the device still on is still its fixture (repro: 0 spots left)', () => {
  const { spots, model, hear } = setup()
  spots.learn(piece('h:abc', 9 * 60_000), WEEK_MS)
  hear(DAY_MS + SLOT_MS)
  assert.equal(model.learned().length, 1)
  assert.equal(spots.spots.length, 1, 'one fixture there: one spot in use')
  assert.equal(spots.spots[0].addresses.size, 1, "the chain's spot, which knows its rate")
  hear(WEEK_MS + 2 * DAY_MS)
  assert.equal(spots.spots.length, 1, 'the always-on device still has a fixture spot once the week ran out')
  assert.equal(spots.spots[0].addresses.size, 0)
  assert.equal(model.learned().length, 1)
})

test('an erasure of the address a chain taught its spot from leaves the spot learned across chains', () => {
  const { spots, model, hear } = setup()
  spots.learn(piece('h:abc', 9 * 60_000), WEEK_MS)
  hear(DAY_MS + SLOT_MS)
  spots.forgetSubject('h:abc')
  assert.equal(spots.spots.length, 1)
  assert.equal(spots.spots[0].addresses.size, 0)
  assert.equal(model.learned().length, 1)
})

test('a spot learned across chains that a chain confirms later goes once the device is gone (repro: kept for ever)', () => {
  const { spots, model, hear, now } = setup()
  hear(DAY_MS + SLOT_MS)
  assert.equal(spots.spots.length, 1)
  const t = now()
  spots.learn(piece('h:abc', t), t + WEEK_MS)
  assert.equal(spots.spots.length, 1, 'one fixture there: one spot in use')
  assert.equal(spots.spots[0].until, t + WEEK_MS, "the chain's spot, kept its week")
  // The device is taken away; three weeks pass.
  for (let k = 1; k <= 21; k++) {
    spots.forgetBefore(t + k * DAY_MS)
    model.flush(t + k * DAY_MS)
  }
  assert.equal(spots.spots.length, 0)
  assert.equal(model.learned().length, 0)
})

test('a spot learned across chains pushed out by the bound is learned again while its model is heard there', () => {
  const { spots, model, hear } = setup()
  hear(DAY_MS + SLOT_MS)
  // A full store of others learned across chains (other models) pushes it out.
  for (let i = 0; i < 200; i++) spots.add({ fp: `ie${(i + 2).toString(16).padStart(4, '0')}`, floor: 0, x: 5, y: 5, intervalMs: 180_000 })
  assert.equal(spots.spots.filter(s => s.fp === 'ie0001').length, 0)
  hear(DAY_MS + 2 * SLOT_MS)
  assert.equal(spots.spots.filter(s => s.fp === 'ie0001').length, 1)
  assert.equal(model.learned().length, 1)
})

test('a spot learned across chains at a chain taught spot that drifts off it (over 6 m, within 12 m) still takes no second radio', () => {
  const spots = new FixtureSpots(6)
  spots.learn(piece('h:abc', 9 * 60_000), WEEK_MS)
  const across = spots.add({ fp: 'ie0001', floor: 0, x: 6, y: 5, intervalMs: 180_000 })
  // Its place follows its bursts (model-spots.ts), here 7 m from the chain's spot.
  across.x = 12
  const at = (address: string, x: number, firstTs: number, lastTs: number): WifiDevice =>
    ({
      address,
      stable: false,
      fp: 'ie0001',
      bursts: 6,
      sumX: 6 * x,
      sumY: 30,
      firstTs,
      lastTs,
      last: { floor: 0 },
      flood: false,
      suspect: false
    }) as Partial<WifiDevice> as WifiDevice
  // The fixture's piece and a phone of its model beside it heard at once: one of them is the fixture.
  assert.equal(spots.spots.length, 1)
  assert.equal(spots.radios([at('p1', 7, 0, 300), at('p2', 9, 100, 400)]).size, 1)
})
