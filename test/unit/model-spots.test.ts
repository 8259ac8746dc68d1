// Places where a model is heard day and night (gateway/presence/model-spots.ts): learned after most
// slots of a day, gone when the model falls silent there, and bounded whatever a sender invents.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ModelSpots, MAX_CANDIDATES } from '../../gateway/presence/model-spots.ts'
import type { FixtureSpot } from '../../gateway/presence/wifi-device-spots.ts'
import type { Burst } from '../../gateway/presence/wifi-device-types.ts'

const burst = (ts: number, fp: string, x: number, y = 3): Burst => ({ ts, x, y, floor: 0, shop: 'shop', sector: null, maxRssi: -60, depth: 2, seq: null, fp, sensor: 's1' })

function spots() {
  const learned: FixtureSpot[] = []
  const lapsed: FixtureSpot[] = []
  const m = new ModelSpots(6, 0.7, () => true, {
    add: s => {
      const f = { ...s, until: Infinity, addresses: new Set<string>() }
      learned.push(f)
      return f
    },
    remove: s => lapsed.push(s),
    has: s => learned.includes(s) && !lapsed.includes(s)
  })
  return { m, learned, lapsed }
}

test('a place heard every 3 minutes is learned after about 17 h of a day, and goes when its model falls silent there', () => {
  const { m, learned, lapsed } = spots()
  let ts = 0
  for (; learned.length === 0 && ts < 2 * 86_400_000; ts += 180_000) m.observe(burst(ts, 'ie0001', 10 + ((ts / 180_000) % 3)))
  assert.equal(learned.length, 1)
  assert.ok(ts > 16 * 3_600_000 && ts < 18 * 3_600_000, `learned at ${ts / 3_600_000} h`)
  // Whole bursts per 10-minute slot: 3 or 4 here.
  assert.ok(Math.abs(learned[0].intervalMs - 180_000) <= 20_000, `its rate: ${learned[0].intervalMs}`)
  // Silent for half a day and more: below half the slots it was learned at.
  for (let t = ts; t < ts + 86_400_000; t += 600_000) m.flush(t)
  assert.equal(lapsed.length, 1)
  assert.equal(m.learned().length, 0)
})

test('a sender inventing a model per burst holds at most the bound of places', () => {
  const { m } = spots()
  for (let i = 0; i < MAX_CANDIDATES + 500; i++) m.observe(burst(i * 1000, `ie${i.toString(16).padStart(5, '0')}`, 5))
  assert.equal(m.size, MAX_CANDIDATES)
})
