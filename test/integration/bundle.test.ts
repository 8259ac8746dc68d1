// The gateway as a store box runs it (`npm run build`, deploy/instore-gateway.service): the bundle,
// with a solver worker started from beside it, takes a replay and publishes the same events as the
// TypeScript source does, and stops cleanly.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { buildBundles } from '../../scripts/build.ts'
import { makeTrace } from '../helpers/sim.ts'
import { runBin, ROOT } from '../helpers/run.ts'
import { startGatewayProc } from '../helpers/procs.ts'

/** Runs `entry` (a bundle or bin/instore-gateway.mjs) on `trace` and returns the events of its outbox, in order. */
async function eventsOf(entry: string, trace: string, devices: string, data: string, extra: string[]): Promise<{ events: string[]; metrics: string }> {
  const args = ['--site', join(ROOT, 'sites/boutique.site.json'), '--clock', 'event', '--data', data, '--secret', 'bundle-test', '--devices', devices, ...extra]
  const g = await startGatewayProc(args, entry)
  try {
    const r = await runBin('instore-replay', ['--trace', trace, '--devices', devices, '--broker', g.mqtt, '--speed', 'max'])
    assert.equal(r.code, 0, r.stderr)
    const metrics = await (await fetch(`${g.http}/metrics`)).text()
    // The stop drains: ticks run to the end of the trace and open visits close.
    assert.equal(await g.stop(), 0, g.out())
    const db = new Database(join(data, 'gateway.sqlite'), { readonly: true })
    const rows = db.prepare('SELECT type, body FROM outbox ORDER BY seq').all() as Array<{ type: string; body: string }>
    db.close()
    const events = rows.map(row => {
      const e = JSON.parse(row.body) as { subject: string; ts: number; shop?: string }
      return `${row.type} ${e.subject} ${e.ts} ${e.shop ?? ''}`
    })
    return { events, metrics }
  } finally {
    if (g.child.exitCode === null) g.child.kill('SIGKILL')
  }
}

test('the built gateway, with a solver worker, publishes the same events as the source and stops cleanly', async () => {
  const { dir, trace } = await makeTrace('boutique', { durationS: 240, seed: 4 })
  const devices = join(dir, 'boutique.devices.json')
  // The bundle keeps the packages outside: it runs from a folder whose node_modules holds them.
  const out = mkdtempSync(join(tmpdir(), 'bundle-'))
  symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir')
  await buildBundles(out)
  const built = await eventsOf(join(out, 'instore-gateway.mjs'), trace, devices, join(dir, 'built'), ['--workers', '1'])
  const source = await eventsOf(join(ROOT, 'bin/instore-gateway.mjs'), trace, devices, join(dir, 'source'), [])
  assert.match(built.metrics, /^instore_solver_workers 1$/m, 'the worker started from beside the bundle')
  assert.match(built.metrics, /^instore_solver_worker_restarts_total 0$/m)
  assert.ok(
    built.events.some(e => e.startsWith('shop.enter')),
    `no visit in ${built.events.length} events`
  )
  assert.deepEqual(built.events, source.events)
})

test('a build copied without its solver worker refuses --workers at start, saying what is missing', async () => {
  const out = mkdtempSync(join(tmpdir(), 'bundle-'))
  symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir')
  await buildBundles(out)
  const alone = mkdtempSync(join(out, 'alone-'))
  copyFileSync(join(out, 'instore-gateway.mjs'), join(alone, 'instore-gateway.mjs'))
  await assert.rejects(
    startGatewayProc(['--site', join(ROOT, 'sites/boutique.site.json'), '--data', join(alone, 'data'), '--workers', '1'], join(alone, 'instore-gateway.mjs')),
    /pool-worker\.mjs is missing/
  )
})
