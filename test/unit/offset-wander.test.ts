// A device's level wanders (it turns round, the body carrying it moves, the room's diffuse level
// differs from place to place): all receivers then read a few dB hotter or colder at once. The
// grid filter's prior on the device's offset (grid option `offsetFloorSdDb`) must stay loose enough
// for such a change to go into the offset, not into a move towards (or away from) every receiver.
// (The flat is small enough for the tracker's default filter, `auto`, to be the grid.)
import test from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { Rng } from '../../shared/rng.ts'
import { Tracker, trackerOptions, type TrackerOptions } from '../../gateway/estimation/tracker.ts'
import { defaultGridFilterOptions } from '../../gateway/estimation/grid-filter.ts'
import { sensorModels, expectedRssi } from '../../gateway/estimation/radio-model.ts'
import { rect } from '../helpers/geo.ts'

/** The Kolakowski flat's receivers (9 x 7 m, nobody heard outside). */
const RECEIVERS: Array<[string, number, number]> = [
  ['a1', 5.5, 2.4],
  ['a2', 0.8, 6.8],
  ['a3', 3, 0.1],
  ['a4', 3.8, 7],
  ['a5', 6, 0.4],
  ['a6', 8.7, 6.6]
]

const site = parseSite({
  type: 'FeatureCollection',
  storeId: 's',
  radio: { pathLossExponent: 2.2, rssiAt1m: -59, outsideHeard: false },
  features: [
    { type: 'Feature', properties: { kind: 'shop', id: 'flat' }, geometry: rect(0, 0, 9, 7) },
    ...RECEIVERS.map(([id, x, y]) => ({
      type: 'Feature' as const,
      properties: { kind: 'sensor' as const, id, z: 2.3 },
      geometry: { type: 'Point' as const, coordinates: [x, y] }
    }))
  ]
})

/**
 * A tag standing at (1.5, 5.5), by a corner, four readings a second per receiver with 4 dB of
 * noise; after a minute every receiver reads it `stepDb` hotter. The mean error of the published
 * positions over the 20 s after the change, and over the 20 s before it, m.
 */
function levelStep(o: Partial<TrackerOptions>, stepDb: number, seed: number): { after: number; before: number } {
  const models = sensorModels(site)
  const tracker = new Tracker(site, models, trackerOptions(site, o))
  const rng = new Rng(seed)
  const at = { x: 1.5, y: 5.5 }
  let after = 0
  let before = 0
  for (let s = 0; s < 80; s++) {
    for (let k = 0; k < 4; k++) {
      const ts = s * 1000 + k * 250
      const shift = ts >= 60_000 ? stepDb : 0
      for (const m of models.values()) tracker.addReading('tag', m.id, ts, expectedRssi(m, Math.hypot(at.x - m.x, at.y - m.y, 1.3 - m.z)) + rng.normal(0, 4) + shift)
    }
    const e = tracker.estimate('tag', s * 1000 + 1000)
    if (e === null) continue
    const err = Math.hypot(e.x - at.x, e.y - at.y)
    if (e.ts >= 60_000) after += err / 20
    else if (e.ts >= 40_000) before += err / 20
  }
  return { after, before }
}

test('every receiver reading a standing tag 6 dB hotter moves it less than with the offset prior pinned at a third of the phones spread', () => {
  const old = { grid: { ...defaultGridFilterOptions, offsetFloorSdDb: 4 / 3 } }
  for (const seed of [1, 2, 3]) {
    const now = levelStep({}, 6, seed)
    const pinned = levelStep(old, 6, seed)
    assert.ok(now.after < pinned.after - 0.1, `seed ${seed}: mean error after the change ${now.after.toFixed(2)} m, pinned ${pinned.after.toFixed(2)} m`)
    // With the level steady the looser prior costs nothing worth the name.
    assert.ok(now.before < pinned.before + 0.1, `seed ${seed}: before the change ${now.before.toFixed(2)} m, pinned ${pinned.before.toFixed(2)} m`)
  }
})
