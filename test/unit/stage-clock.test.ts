// The pipeline's time per stage (gateway/stage-clock.ts, issue 28): each call adds its time and
// counts once, a stage that throws is still timed, and the clock can be swapped for CPU time.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { StageClock, STAGES, cpuClock } from '../../gateway/stage-clock.ts'

test('stage clock: calls add their time to their own stage only, and count', () => {
  const c = new StageClock()
  let now = 0
  c.now = () => now
  const t0 = c.now()
  now = 5
  const t1 = c.add('ingest', t0)
  now = 12
  c.add('fixes', t1)
  const answer = c.time('entryTests', () => {
    now = 15
    return 'answer'
  })
  assert.equal(answer, 'answer')
  assert.throws(() =>
    c.time('walkTests', () => {
      now = 19
      throw new Error('bad state')
    })
  )
  const want: Record<string, [number, number]> = { ingest: [5, 1], fixes: [7, 1], entryTests: [3, 1], walkTests: [4, 1] }
  for (const s of STAGES) assert.deepEqual([c.ms[s], c.calls[s]], want[s] ?? [0, 0], s)
})

test('stage clock: the CPU clock is the process CPU time in ms and never runs backwards', () => {
  const a = cpuClock()
  let x = 0
  for (let i = 0; i < 1e6; i++) x += Math.sqrt(i)
  const b = cpuClock()
  assert.ok(x > 0 && b >= a && a > 0)
})
