// The grid filter on real radio: the Kolakowski robot track without its calibration walk (the
// site file's receiver positions and defaults, online self-calibration), where the tracker's
// default (`filter: 'auto'`) takes the grid, against the solver and Kalman filter on the same track.
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

test('Kolakowski robot track, no calibration walk: the grid filter (the default on the flat) beats the Kalman filter in mean and p95', {
  skip: !existsSync(DATA) && 'data set not found'
}, async () => {
  const siteFile = convertSite(DATA)
  const sensors = siteFile.features.filter(f => f.properties.kind === 'sensor').map(f => f.properties.id)
  const trace = join(mkdtempSync(join(tmpdir(), 'instore-grid-')), 'robot.jsonl')
  writeFileSync(
    trace,
    convertTrack(datasetFiles(DATA).tracks[0], sensors)
      .map(l => JSON.stringify(l))
      .join('\n') + '\n'
  )
  const site = parseSite(siteFile)
  const byDefault = await measureAccuracy(site, trace, 'gateway')
  const kalman = await measureAccuracy(site, trace, 'gateway', { filter: 'kalman' })
  // Bounds that fail the code before the grid filter (the solver and Kalman filter; the figures: docs/benchmarks.md).
  assert.ok(byDefault.error.mean < 1.42, `mean ${byDefault.error.mean}`)
  assert.ok(byDefault.error.p95 < 2.56, `p95 ${byDefault.error.p95}`)
  assert.ok(
    byDefault.error.mean < kalman.error.mean && byDefault.error.p95 < kalman.error.p95,
    `grid ${byDefault.error.mean} / ${byDefault.error.p95}, Kalman ${kalman.error.mean} / ${kalman.error.p95}`
  )
})
