// The gateway's pools (issue 28) share their threads: `--workers N` starts N worker threads in
// all, not N for the solver pool and N more for the test pool, each an isolate of its own (its
// heap, its code compiled again, its start-up). Counted from the process's threads
// (/proc/PID/task, Linux) of the built gateway as a store box runs it: run from source, each
// worker also starts the TypeScript loader's thread, some seconds later on a loaded machine.
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { buildBundles } from '../../scripts/build.ts'
import { waitSettled } from '../helpers/gateway.ts'
import { startGatewayProc } from '../helpers/procs.ts'
import { ROOT } from '../helpers/run.ts'

/** The threads of a built gateway started with `workers`, once their number has held still. */
async function threadsWith(entry: string, workers: number): Promise<number> {
  const data = mkdtempSync(join(tmpdir(), 'pool-threads-'))
  const g = await startGatewayProc(['--site', join(ROOT, 'sites/boutique.site.json'), '--data', data, '--workers', String(workers)], entry)
  try {
    const pid = g.child.pid as number
    return await waitSettled(() => readdirSync(`/proc/${pid}/task`).length, 2000, 60_000, `threads with ${workers} workers`)
  } finally {
    assert.equal(await g.stop(), 0, g.out())
  }
}

test('the built gateway with --workers 2 runs two more threads than without: one set for the solver and test pools', { skip: !existsSync('/proc/self/task') }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'bundle-'))
  symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir')
  await buildBundles(out)
  const entry = join(out, 'instore-gateway.mjs')
  const base = await threadsWith(entry, 0)
  const pooled = await threadsWith(entry, 2)
  assert.equal(pooled - base, 2, `${pooled} threads with two workers against ${base} without`)
})
