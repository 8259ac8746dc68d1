// `npm run bench`'s arguments are checked before anything runs (repro: an unknown part ran nothing,
// exited 0 and wrote results-nonsense.json; --help started the whole benchmark).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../helpers/run.ts'

test('npm run bench: an unknown part lists the parts and exits 2 writing nothing; --help prints usage and exits 0', () => {
  // Run from a temp folder: whatever the command would write lands there, never in the checkout.
  const cwd = mkdtempSync(join(tmpdir(), 'bench-args-'))
  const cases: Array<{ args: string[]; code: number; out: 'stdout' | 'stderr'; says: RegExp }> = [
    { args: ['nonsense'], code: 2, out: 'stderr', says: /unknown part 'nonsense'[\s\S]*default parts: accuracy, filter, throughput/ },
    { args: ['--help'], code: 0, out: 'stdout', says: /^usage: npm run bench[\s\S]*named only: +openhps, memory, soak, nights, chain/ },
    { args: ['visits', '-h'], code: 0, out: 'stdout', says: /^usage: npm run bench/ }
  ]
  for (const c of cases) {
    const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'bench/run.ts'), ...c.args], { cwd, encoding: 'utf8', timeout: 60_000 })
    assert.equal(r.status, c.code, `${c.args.join(' ')}: ${r.stdout}${r.stderr}`)
    assert.match(r[c.out], c.says)
    assert.equal(existsSync(join(cwd, 'out')), false, `${c.args.join(' ')} wrote out/`)
  }
})
