// Positions without a calibration walk: the Kolakowski robot track on the site file's defaults,
// with online self-calibration and the site's walls as a prior only; and what self-calibration
// learns about a badly mounted receiver, as the gateway reports it in /healthz and /metrics.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseSite } from '../../shared/site.ts'
import { measureAccuracy } from '../../bench/accuracy-lib.ts'
import { convertSite, convertTrack, datasetFiles } from '../../simulators/kolakowski.ts'
import { ROOT, runBin } from '../helpers/run.ts'
import { makeTrace } from '../helpers/sim.ts'
import { startGateway } from '../helpers/gateway.ts'
import { loadDevicesFile } from '../../gateway/ingest/identity.ts'

const DATA = join(ROOT, '../shared/data/kolakowski-ble-flat')

test("Kolakowski robot track, no calibration walk: fixes are searched inside the flat's walls only", { skip: !existsSync(DATA) && 'data set not found' }, async () => {
  const siteFile = convertSite(DATA)
  const sensors = siteFile.features.filter(f => f.properties.kind === 'sensor').map(f => f.properties.id)
  const trace = join(mkdtempSync(join(tmpdir(), 'instore-uncal-')), 'robot.jsonl')
  writeFileSync(
    trace,
    convertTrack(datasetFiles(DATA).tracks[0], sensors)
      .map(l => JSON.stringify(l))
      .join('\n') + '\n'
  )
  const r = await measureAccuracy(parseSite(siteFile), trace, 'gateway')
  // Bounds that fail the code before the fixes were searched inside the walls only and the
  // smoother came in (the figures of each step: docs/positioning.md, `npm run bench -- accuracy`).
  assert.ok(r.error.mean < 1.47, `mean ${r.error.mean}`)
  assert.ok(r.error.p95 < 2.75, `p95 ${r.error.p95}`)
})

test('a receiver reading 12 dB hot: the gateway learns it, names it in /healthz and shows it in /metrics', async () => {
  const { trace, loaded, dir } = await makeTrace('boutique', { durationS: 900, seed: 11 })
  const hot = 'b5'
  const hotTrace = join(dir, 'hot.jsonl')
  writeFileSync(
    hotTrace,
    readFileSync(trace, 'utf8')
      .split('\n')
      .filter(l => l !== '')
      .map(l => {
        const line = JSON.parse(l) as { sensor?: string; rssi?: number }
        if (line.sensor === hot && line.rssi !== undefined) line.rssi = Math.min(0, line.rssi + 12)
        return JSON.stringify(line)
      })
      .join('\n') + '\n'
  )
  const devices = join(dir, 'boutique.devices.json')
  const g = await startGateway({ campaigns: [], devices: loadDevicesFile(devices) }, loaded.sitePath)
  try {
    const r = await runBin('instore-replay', ['--trace', hotTrace, '--devices', devices, '--broker', g.mqttUrl])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const health = (await (await fetch(`http://127.0.0.1:${g.httpPort}/healthz`)).json()) as { status: string; problems: string[] }
    const problem = health.problems.find(p => p.startsWith('sensors reading 10 dB or more off'))
    assert.match(problem ?? '', new RegExp(`: ${hot} \\+1\\d\\.\\d dB$`), JSON.stringify(health))
    const metrics = await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
    const m = new RegExp(`instore_selfcal_correction_db\\{sensor="${hot}"\\} (\\S+)`).exec(metrics)
    assert.ok(m !== null && Number(m[1]) >= 10, m?.[0] ?? 'no correction gauge')
    assert.match(metrics, new RegExp(`instore_selfcal_spread_ratio\\{sensor="${hot}"\\} \\d`))
  } finally {
    await g.stop()
  }
})
