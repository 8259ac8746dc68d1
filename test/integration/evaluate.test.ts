import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { locate } from '../../shared/site.ts'
import { isTruth, type TraceLine } from '../../shared/trace.ts'
import type { Truth } from '../../simulators/engine.ts'
import { makeTrace } from '../helpers/sim.ts'
import { runBin, ROOT } from '../helpers/run.ts'
import { SubjectHasher } from '../../gateway/ingest/subjects.ts'

test('a recording equal to the truth scores zero error and full recall; a shifted one does not', async () => {
  const { dir, trace, truth: truthPath, loaded } = await makeTrace('boutique', { durationS: 900 })
  const truth = JSON.parse(readFileSync(truthPath, 'utf8')) as Truth
  const rec: string[] = []
  const shifted: string[] = []
  for (const l of readFileSync(trace, 'utf8')
    .trim()
    .split('\n')
    .map(s => JSON.parse(s) as TraceLine)) {
    if (!isTruth(l)) continue
    const { subject, x, y } = l.truth
    const where = locate(loaded.site, x, y)
    rec.push(JSON.stringify({ topic: `instore/s/positions/${subject}`, msg: { subject, ts: l.ts, x, y, floor: 0, accuracyM: 1, ...where, source: 'ble' } }))
    shifted.push(JSON.stringify({ topic: `instore/s/positions/${subject}`, msg: { subject, ts: l.ts, x: x + 3, y: y + 4, floor: 0, accuracyM: 1, ...where, source: 'ble' } }))
  }
  const ev = (type: string, subject: string | null, ts: number, extra: object) => JSON.stringify({ topic: `instore/s/events/${type}`, msg: { type, subject, ts, ...extra } })
  for (const v of truth.visits.filter(v => v.subject)) {
    rec.push(ev('shop.enter', v.subject, v.enter, { shop: v.shop }), ev('shop.exit', v.subject, v.exit, { shop: v.shop }))
  }
  for (const s of truth.stays.filter(s => s.subject)) {
    rec.push(ev('sector.enter', s.subject, s.enter, { shop: s.shop, sector: s.sector }), ev('sector.exit', s.subject, s.exit, { shop: s.shop, sector: s.sector }))
  }
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

test('a truth subject that is a MAC address is scored under the name the gateway hashed it to, given its secret or data folder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eval-mac-'))
  const mac = 'C4:7C:8D:6A:12:34'
  const published = new SubjectHasher('s3cret').hash(mac)
  const trace = join(dir, 'mac.jsonl')
  const rec = join(dir, 'rec.jsonl')
  const truth: string[] = []
  const positions: string[] = []
  for (let i = 0; i < 20; i++) {
    const ts = 1_764_000_000_000 + 1000 * i
    truth.push(JSON.stringify({ ts, store: 's', sensor: 'b1', t: 'ble', id: mac, rssi: -60 }), JSON.stringify({ ts, truth: { subject: mac, x: 5, y: 5, floor: 0 } }))
    positions.push(
      JSON.stringify({ topic: `instore/s/positions/${published}`, msg: { subject: published, ts, x: 5, y: 6, floor: 0, accuracyM: 1, shop: null, sector: null, source: 'ble' } })
    )
  }
  writeFileSync(trace, truth.join('\n') + '\n')
  writeFileSync(rec, positions.join('\n') + '\n')
  const site = join(ROOT, 'sites/boutique.site.json')
  const refused = await runBin('instore-eval', ['--site', site, '--trace', trace, '--recording', rec])
  assert.equal(refused.code, 2)
  assert.match(refused.stderr, /is a MAC address, which the gateway publishes hashed: pass --data/)
  const r = await runBin('instore-eval', ['--site', site, '--trace', trace, '--recording', rec, '--secret', 's3cret', '--json', '-'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  const report = JSON.parse(r.stdout)
  assert.equal(report.positions.coverage, 1)
  assert.equal(report.positions.error.mean, 1)
  writeFileSync(join(dir, 'store-secret'), 's3cret\n')
  const fromData = await runBin('instore-eval', ['--site', site, '--trace', trace, '--recording', rec, '--data', dir, '--json', '-'])
  assert.equal(JSON.parse(fromData.stdout).positions.coverage, 1)
})
