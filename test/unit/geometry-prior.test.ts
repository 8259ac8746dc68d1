// The site's walls as a prior on a fix (geometry-prior.ts), and what it does on a real track.
import test from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { insideWalls } from '../../gateway/estimation/geometry-prior.ts'
import { Tracker, trackerOptions } from '../../gateway/estimation/tracker.ts'
import { sensorModels } from '../../gateway/estimation/radio-model.ts'
import { rect } from '../helpers/geo.ts'

// An L-shaped shop: the square 10 x 10 without its top-right quarter, and a second shop upstairs.
const site = parseSite({
  type: 'FeatureCollection',
  storeId: 's',
  radio: { pathLossExponent: 2.2, rssiAt1m: -59, outsideHeard: false },
  features: [
    {
      type: 'Feature',
      properties: { kind: 'shop', id: 'l' },
      geometry: {
        type: 'Polygon',
        coordinates: [
          [
            [0, 0],
            [10, 0],
            [10, 5],
            [5, 5],
            [5, 10],
            [0, 10],
            [0, 0]
          ]
        ]
      }
    },
    {
      type: 'Feature',
      properties: { kind: 'shop', id: 'up', floor: 1 },
      geometry: {
        type: 'Polygon',
        coordinates: [
          [
            [0, 0],
            [4, 0],
            [4, 4],
            [0, 4],
            [0, 0]
          ]
        ]
      }
    },
    { type: 'Feature', properties: { kind: 'sensor', id: 'a' }, geometry: { type: 'Point', coordinates: [1, 1] } }
  ]
})

test('a fix just outside every shop moves onto the nearest edge; one inside, or further out than the reach, stays', () => {
  const cases: Array<{ name: string; at: [number, number]; sigma: number; floor: number; want: [number, number] }> = [
    { name: 'inside', at: [2, 3], sigma: 1, floor: 0, want: [2, 3] },
    { name: 'a metre past the south wall', at: [3, -1], sigma: 1, floor: 0, want: [3, 0] },
    { name: 'in the missing quarter, nearer the inner wall', at: [7, 5.5], sigma: 1, floor: 0, want: [7, 5] },
    { name: 'on the street, beyond two radii', at: [3, -3], sigma: 1, floor: 0, want: [3, -3] },
    { name: 'a small radius still reaches half a metre times two', at: [3, -0.9], sigma: 0.1, floor: 0, want: [3, 0] },
    { name: 'a wide radius reaches further', at: [3, -3], sigma: 2, floor: 0, want: [3, 0] },
    { name: "upstairs, only that floor's shop counts", at: [6, 2], sigma: 1, floor: 1, want: [4, 2] }
  ]
  for (const c of cases) {
    const [x, y] = insideWalls(site, c.at[0], c.at[1], c.sigma, c.floor, 2)
    assert.ok(Math.hypot(x - c.want[0], y - c.want[1]) < 1e-9, `${c.name}: got ${x}, ${y}`)
  }
})

test('where a street passes (the default), no fix is moved: passers-by stay outside', () => {
  const street = parseSite({ ...site.file, radio: { pathLossExponent: 2.2, rssiAt1m: -59 } })
  assert.deepEqual(insideWalls(street, 3, -1, 1, 0, 2), [3, -1])
})

test('where nobody is heard outside, the fix itself is the best fit inside the walls; where a street passes, it may lie outside', () => {
  // Four receivers in a 10 x 8 room; the readings say (12, 4), two metres past the east wall (a
  // receiver reading hot, a reflection), as the Kolakowski robot track's fixes often did.
  const room = (outsideHeard: boolean) =>
    parseSite({
      type: 'FeatureCollection',
      storeId: 's',
      radio: { pathLossExponent: 2.2, rssiAt1m: -59, outsideHeard },
      features: [
        { type: 'Feature', properties: { kind: 'shop', id: 'room' }, geometry: rect(0, 0, 10, 8) },
        ...[
          [1, 1],
          [9, 1],
          [9, 7],
          [1, 7]
        ].map(([x, y], i) => ({
          type: 'Feature' as const,
          properties: { kind: 'sensor' as const, id: `s${i}`, z: 2.5 },
          geometry: { type: 'Point' as const, coordinates: [x, y] as [number, number] }
        }))
      ]
    })
  for (const [outsideHeard, inside] of [
    [false, true],
    [true, false]
  ]) {
    const s = room(outsideHeard)
    const models = sensorModels(s)
    const t = new Tracker(s, models, trackerOptions(s))
    for (let ts = 0; ts <= 5000; ts += 250) for (const m of models.values()) t.addReading('p', m.id, ts, m.a - 10 * m.n * Math.log10(Math.hypot(12 - m.x, 4 - m.y, 1.2 - m.z)))
    const e = t.estimate('p', 5000)
    assert.ok(e !== null)
    assert.equal(e.fix.x <= 10, inside, `outsideHeard ${outsideHeard}: fix at ${e.fix.x.toFixed(2)}, ${e.fix.y.toFixed(2)}`)
    if (inside) assert.ok(Math.abs(e.fix.x - 10) < 0.5 && Math.abs(e.fix.y - 4) < 1, `at ${e.fix.x}, ${e.fix.y}`)
    else assert.ok(Math.abs(e.fix.x - 12) < 0.5, `at ${e.fix.x}, ${e.fix.y}`)
  }
})
