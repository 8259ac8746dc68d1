// The bench parts' traces are written into folders that a fresh clone does not have yet
// (out/bench): `bench/cpu-cost.ts` stopped with ENOENT there before its first trace was made.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { devicesBeside, simulate } from '../../bench/trace-files.ts'
import { loadScenario } from '../../simulators/scenario.ts'
import { Simulator } from '../../simulators/engine.ts'

test('a simulated trace and its devices are written into a folder that does not exist yet', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'trace-files-')), 'out', 'bench', 'boutique.jsonl')
  await simulate(path, new Simulator(loadScenario('simulators/scenarios/boutique.json', { durationS: 5 })))
  assert.ok(existsSync(devicesBeside(path)))
  const lines = readFileSync(path, 'utf8').trim().split('\n')
  assert.ok(lines.length > 10, `${lines.length} lines`)
})
