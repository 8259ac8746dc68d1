// A WGS84 point lands in the site frame as contract §1 reads: "x east, y north" with its example's
// georef bearingDeg 0 (repro: 10 m east landed at (0, -10), the code taking bearingDeg as the x
// axis's compass bearing, 90 by default).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { siteXY } from '../../gateway/ingest/external-fixes.ts'

const R = 6_371_008.8
const [lng0, lat0] = [13.405, 52.52]
const east = (m: number) => lng0 + ((m / (R * Math.cos((lat0 * Math.PI) / 180))) * 180) / Math.PI
const north = (m: number) => lat0 + ((m / R) * 180) / Math.PI

const site = (bearingDeg: number | undefined) =>
  parseSite({
    type: 'FeatureCollection',
    storeId: 's1',
    georef: { origin: [lng0, lat0], ...(bearingDeg !== undefined ? { bearingDeg } : {}) },
    features: [
      {
        type: 'Feature',
        properties: { kind: 'shop', id: 'main' },
        geometry: {
          type: 'Polygon',
          coordinates: [
            [
              [0, 0],
              [30, 0],
              [30, 20],
              [0, 20],
              [0, 0]
            ]
          ]
        }
      },
      { type: 'Feature', properties: { kind: 'sensor', id: 'r1' }, geometry: { type: 'Point', coordinates: [0.5, 0.5] } }
    ]
  })

const cases: Array<{ bearingDeg: number | undefined; point: [number, number]; xy: [number, number] }> = [
  { bearingDeg: 0, point: [north(0), east(10)], xy: [10, 0] },
  { bearingDeg: 0, point: [north(10), east(0)], xy: [0, 10] },
  { bearingDeg: undefined, point: [north(0), east(10)], xy: [10, 0] },
  // The frame turned a quarter clockwise: its y axis points east, its x axis south.
  { bearingDeg: 90, point: [north(0), east(10)], xy: [0, 10] },
  { bearingDeg: 90, point: [north(-10), east(0)], xy: [10, 0] }
]

for (const c of cases) {
  test(`georef bearingDeg ${c.bearingDeg ?? '(default)'}: (${c.point.join(', ')}) lands at (${c.xy.join(', ')})`, () => {
    const got = siteXY(site(c.bearingDeg), c.point[0], c.point[1])
    assert.ok(got)
    assert.ok(Math.abs(got[0] - c.xy[0]) < 0.01 && Math.abs(got[1] - c.xy[1]) < 0.01, `got ${got.join(', ')}`)
  })
}
