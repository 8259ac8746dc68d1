// Occupancy at least every 10 s of event time while Wi-Fi people are counted (contract §4; a
// stranger's check of issue 32, s12: a gateway replaying a Wi-Fi-only store in event time was
// recorded publishing 151 occupancy messages over 9,886 s, gaps of 211-653 s while the count
// changed). The gateway published them all: its embedded aedes broker dropped a retained (or QoS 1)
// message overtaken by the next tick's positions, for any client taking both
// (gateway/io/ordered-publish.ts), as `instore-replay --record` and a dashboard do. Fails on the
// code before (a gap of 31 s).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadSiteFile, parseSite } from '../../shared/site.ts'
import { startGateway } from '../helpers/gateway.ts'
import { runBin, ROOT } from '../helpers/run.ts'

const site = parseSite(loadSiteFile(join(ROOT, 'sites/boutique.site.json')).file)
const T = Date.UTC(2026, 10, 2, 10)
const MIN = 60_000

interface Occ {
  ts: number
  shops: Record<string, number>
  high?: { shops: Record<string, number> }
}

/** Four phones in the boutique probing every 30 s for 10 min, then only the sensors' heartbeats (every 60 s, as the simulator's) for 20 min. */
function trace(path: string): number {
  const lines: Array<Record<string, unknown>> = []
  for (let ts = T; ts <= T + 36 * MIN; ts += MIN) for (const s of site.sensors.keys()) lines.push({ ts, store: site.storeId, sensor: s, heartbeat: true })
  // Global addresses: each its own device. After 6 min: not a device already there at a first start.
  const phones: Array<[string, number, number]> = [
    ['f0:99:b6:00:00:01', 6, 4],
    ['f0:99:b6:00:00:02', 10, 6],
    ['f0:99:b6:00:00:03', 14, 4],
    ['f0:99:b6:00:00:04', 8, 8]
  ]
  let last = 0
  for (const [i, [mac, x, y]] of phones.entries()) {
    for (let ts = T + 6 * MIN + i * 7000, seq = 100; ts < T + 16 * MIN; ts += 30_000, seq += 3) {
      for (let k = 0; k < 3; k++)
        for (const s of site.sensors.values()) {
          const rssi = Math.round(-45 - 22 * Math.log10(Math.hypot(x - s.x, y - s.y, 1.6)))
          if (rssi >= -95) lines.push({ ts: ts + 20 * k, store: site.storeId, sensor: s.id, t: 'wifi', mac, rssi, seq: seq + k, ch: 6, fp: 'ie0003' })
        }
      last = Math.max(last, ts + 40)
    }
  }
  lines.sort((a, b) => (a.ts as number) - (b.ts as number))
  writeFileSync(path, lines.map(l => JSON.stringify(l)).join('\n') + '\n')
  return last
}

test('a gateway in event time publishes occupancy at least every 10 s while Wi-Fi people are counted, to a subscriber of positions too, and their leaving on time', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'occ-beat-'))
  const lastProbe = trace(join(dir, 'wifi.jsonl'))
  const g = await startGateway()
  let replayed = ''
  try {
    // The recorder takes positions, events and occupancy on one connection.
    const r = await runBin('instore-replay', ['--trace', join(dir, 'wifi.jsonl'), '--broker', g.mqttUrl, '--record', join(dir, 'rec.jsonl'), '--settle', '3000'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    replayed = r.stdout.slice(-400) + r.stderr.slice(-400)
  } finally {
    await g.stop()
  }
  const recs = readFileSync(join(dir, 'rec.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map(l => JSON.parse(l) as { topic: string; msg: Occ })
  assert.ok(
    recs.some(m => m.topic.includes('/positions/')),
    `no positions recorded: ${replayed}`
  )
  const occ = recs.filter(m => m.topic.endsWith('/occupancy')).map(m => m.msg)
  const total = (z: Record<string, number> | undefined) => Object.values(z ?? {}).reduce((a, b) => a + b, 0)
  const first = occ.findIndex(o => total(o.shops) > 0)
  assert.ok(first >= 0, 'nobody counted')
  assert.ok(Math.max(...occ.map(o => total(o.shops))) >= 3, `at most ${Math.max(...occ.map(o => total(o.shops)))} of 4 phones counted`)
  // Everyone gone, in `high` too: the count settles, and says so within the beat.
  const counted = (o: Occ) => total(o.shops) + total(o.high?.shops) > 0
  const gone = occ.length - [...occ].reverse().findIndex(counted)
  assert.ok(gone > first && gone < occ.length, 'the phones never left the count')
  assert.ok(occ[gone].ts <= lastProbe + 210_000 + 10_000, `counted until ${(occ[gone].ts - lastProbe) / 1000} s after the last probe`)
  const gaps = occ.slice(first, gone + 1).map((o, i, a) => (i === 0 ? 0 : o.ts - a[i - 1].ts))
  const worst = Math.max(...gaps)
  assert.ok(worst <= 10_000, `a gap of ${worst / 1000} s between occupancy messages while people were counted (${gaps.filter(g => g > 10_000).length} over 10 s of ${gaps.length})`)
})
