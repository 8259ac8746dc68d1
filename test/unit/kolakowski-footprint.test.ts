// The Kolakowski importer's floor: the layout's wall outline where it is a usable ring (its
// cut-outs are outside the flat, so the walls prior of a site nobody is heard outside of covers
// them), the outline's bounding box where it is not.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { convertSite } from '../../simulators/kolakowski.ts'
import { locate, parseSite } from '../../shared/site.ts'

/** A folder with two anchors and the given layout.csv rows (x,y per line). */
function folder(layout: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'instore-kola-footprint-'))
  writeFileSync(join(dir, 'anchors.csv'), 'id,x,y,z\n1,1,1,2.4\n2,1,5,2.4\n')
  writeFileSync(join(dir, 'layout.csv'), ['x,y', ...layout].join('\n') + '\n')
  return dir
}

/** An L-shaped flat, 6 x 6 m without its lower right 4 x 4 m, and a 0.1 m wall stub cut in from the left. */
const L_SHAPE = ['0,0', '2,0', '2,4', '6,4', '6,6', '0,6', '0,3.1', '1,3.1', '1,3', '0,3', '0,0']

test('the flat is its wall outline: a place in its cut-out is outside it, its rooms inside', () => {
  const site = convertSite(folder(L_SHAPE))
  const ring = site.features[0].geometry.coordinates[0]
  assert.deepEqual(
    ring,
    L_SHAPE.map(p => p.split(',').map(Number))
  )
  const parsed = parseSite(site)
  assert.equal(locate(parsed, 4, 2).shop, null, 'the cut-out is outside the flat')
  assert.equal(locate(parsed, 1, 1).shop, 'flat')
  assert.equal(locate(parsed, 4, 5).shop, 'flat')
  assert.equal(locate(parsed, 0.5, 3.05).shop, null, 'inside the wall stub')
  assert.deepEqual(parsed.bbox, [0, 0, 6, 6])
})

test('an outline left open is closed; one that crosses itself, or leaves an anchor out, gives the bounding box', () => {
  const open = convertSite(folder(L_SHAPE.slice(0, -1)))
  assert.deepEqual(
    open.features[0].geometry.coordinates[0],
    L_SHAPE.map(p => p.split(',').map(Number))
  )
  const box = [
    [0, 0],
    [6, 0],
    [6, 6],
    [0, 6],
    [0, 0]
  ]
  // A bow tie: its edges cross at (3, 3).
  assert.deepEqual(convertSite(folder(['0,0', '6,6', '6,0', '0,6', '0,0'])).features[0].geometry.coordinates[0], box)
  // A ring that holds anchor 1 (1, 1) but not anchor 2 (1, 5).
  assert.deepEqual(convertSite(folder(['0,0', '6,0', '6,6', '2,6', '2,2', '0,2', '0,0'])).features[0].geometry.coordinates[0], box)
})

test('an empty layout gives the anchors bounding box with a metre around, as no layout does', () => {
  assert.deepEqual(convertSite(folder([])).features[0].geometry.coordinates[0], [
    [0, 0],
    [2, 0],
    [2, 6],
    [0, 6],
    [0, 0]
  ])
})
