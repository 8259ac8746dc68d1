import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { locate } from '../shared/site.ts'
import { isTruth, type TraceLine } from '../shared/trace.ts'
import type { Truth } from '../simulators/engine.ts'
import { makeTrace } from './helpers/sim.ts'
import { runBin } from './helpers/run.ts'

test('a recording equal to the truth scores zero error and full recall; a shifted one does not', async () => {
  const { dir, trace, truth: truthPath, loaded } = await makeTrace('boutique', { durationS: 900 })
  const truth = JSON.parse(readFileSync(truthPath, 'utf8')) as Truth
  const rec: string[] = []; const shifted: string[] = []
  for (const l of readFileSync(trace, 'utf8').trim().split('\n').map(s => JSON.parse(s) as TraceLine)) {
    if (!isTruth(l)) continue
    const { subject, x, y } = l.truth
    const where = locate(loaded.site, x, y)
    rec.push(JSON.stringify({ topic: `instore/s/positions/${subject}`, msg: { subject, ts: l.ts, x, y, floor: 0, accuracyM: 1, ...where, source: 'ble' } }))
    shifted.push(JSON.stringify({ topic: `instore/s/positions/${subject}`, msg: { subject, ts: l.ts, x: x + 3, y: y + 4, floor: 0, accuracyM: 1, ...where, source: 'ble' } }))
  }
  const ev = (type: string, subject: string | null, ts: number, extra: object) => JSON.stringify({ topic: `instore/s/events/${type}`, msg: { type, subject, ts, ...extra } })
  for (const v of truth.visits.filter(v => v.subject)) { rec.push(ev('shop.enter', v.subject, v.enter, { shop: v.shop }), ev('shop.exit', v.subject, v.exit, { shop: v.shop })) }
  for (const s of truth.stays.filter(s => s.subject)) { rec.push(ev('sector.enter', s.subject, s.enter, { shop: s.shop, sector: s.sector }), ev('sector.exit', s.subject, s.exit, { shop: s.shop, sector: s.sector })) }
  writeFileSync(join(dir, 'perfect.jsonl'), rec.join('\n') + '\n')
  writeFileSync(join(dir, 'shifted.jsonl'), shifted.join('\n') + '\n')

  const r = await runBin('instore-eval', ['--site', loaded.sitePath, '--trace', trace, '--recording', join(dir, 'perfect.jsonl'), '--json', '-'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  const report = JSON.parse(r.stdout)
  assert.equal(report.positions.error.mean, 0)
  assert.equal(report.positions.coverage, 1)
  assert.equal(report.positions.sectorAgreement, 1)
  assert.ok(report.visits.truth > 0)
  assert.equal(report.visits.recall, 1)
  assert.equal(report.visits.precision, 1)
  assert.equal(report.stays.recall, 1)
  assert.equal(report.stays.extraEntriesPerStay, 0)

  const s = await runBin('instore-eval', ['--site', loaded.sitePath, '--trace', trace, '--recording', join(dir, 'shifted.jsonl')])
  assert.equal(s.code, 0, s.stdout + s.stderr)
  assert.match(s.stdout, /error mean \/ median \/ p95 \(m\)\s+5\.00 \/ 5\.00 \/ 5\.00/)
})
