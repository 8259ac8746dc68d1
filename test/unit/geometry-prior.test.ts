// The site's walls as a prior on a fix (geometry-prior.ts), and what it does on a real track.
import test from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { insideWalls } from '../../gateway/estimation/geometry-prior.ts'

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
