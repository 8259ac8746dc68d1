// Positions on real radio without a calibration walk: the Kolakowski robot track on the site
// file's defaults, with online self-calibration and the site's walls as a prior only.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseSite } from '../../shared/site.ts'
import { measureAccuracy } from '../../bench/accuracy-lib.ts'
import { convertSite, convertTrack, datasetFiles } from '../../simulators/kolakowski.ts'
import { ROOT } from '../helpers/run.ts'

const DATA = join(ROOT, '../shared/data/kolakowski-ble-flat')

test('Kolakowski robot track, no calibration walk: fixes past the flat\'s walls no longer pull the track outside', { skip: !existsSync(DATA) && 'data set not found' }, async () => {
  const siteFile = convertSite(DATA)
  const sensors = siteFile.features.filter(f => f.properties.kind === 'sensor').map(f => f.properties.id)
  const trace = join(mkdtempSync(join(tmpdir(), 'instore-uncal-')), 'robot.jsonl')
  writeFileSync(trace, convertTrack(datasetFiles(DATA).tracks[0], sensors).map(l => JSON.stringify(l)).join('\n') + '\n')
  const r = await measureAccuracy(parseSite(siteFile), trace, 'gateway')
  // Before the walls counted for the fixes: 1.58 m mean, 3.05 m p95.
  assert.ok(r.error.mean < 1.54, `mean ${r.error.mean}`)
  assert.ok(r.error.p95 < 3.0, `p95 ${r.error.p95}`)
})
