// The grid filter's third motion mode, a stroll (grid option `strollMps`): a slow, steady mover is
// neither standing nor walking at `walkMps`, and with those two modes only it was followed several
// seconds late. Clean readings on the Kolakowski flat's receivers (bench/motion-lag.ts), none
// late: whatever lag is left is the estimator's.
import test from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { flatSite, motionLag, steadyWalk } from '../../bench/motion-lag.ts'
import { writeTrace } from '../../bench/trace-files.ts'
import { defaultGridFilterOptions } from '../../gateway/estimation/grid-filter.ts'

const dir = mkdtempSync(join(tmpdir(), 'instore-stroll-'))

/** Mean error at the published time with the default modes and with the stroll taken out, m. */
async function withAndWithout(speedMps: number): Promise<{ stroll: number; twoModes: number }> {
  const site = flatSite()
  const trace = join(dir, `walk-${speedMps}.jsonl`)
  await writeTrace(trace, steadyWalk(site, speedMps, 4, 100_000))
  const stroll = await motionLag(site, trace, {}, 20_000)
  const twoModes = await motionLag(site, trace, { grid: { strollMps: 0 } }, 20_000)
  return { stroll: stroll.atTimeM, twoModes: twoModes.atTimeM }
}

test('the stroll is on by default', () => {
  assert.ok(defaultGridFilterOptions.strollMps > 0)
})

test('a tag moving steadily at 0.2 and 0.5 m/s is followed closer with the stroll than with standing and walking only', async () => {
  for (const speed of [0.2, 0.5]) {
    const r = await withAndWithout(speed)
    assert.ok(r.stroll < r.twoModes - 0.04, `${speed} m/s: with the stroll ${r.stroll.toFixed(3)} m, without ${r.twoModes.toFixed(3)} m`)
  }
})

test('a standing tag is placed as well with the stroll as without it', async () => {
  const r = await withAndWithout(0)
  assert.ok(r.stroll < r.twoModes + 0.03, `standing: with the stroll ${r.stroll.toFixed(3)} m, without ${r.twoModes.toFixed(3)} m`)
})
