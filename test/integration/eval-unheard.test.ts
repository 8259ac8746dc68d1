// instore-eval leaves out the truth visits no reading in the trace supports (issue 27: a store
// whose sensors are off or out): counted as unheard, not against recall.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Truth } from '../../simulators/engine.ts'
import { runBin, ROOT } from '../helpers/run.ts'

test('instore-eval: a visit no sensor heard is unheard and not judged; a heard one that was missed still is', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eval-unheard-'))
  const W0 = 1_764_000_000_000
  const truth: Truth = {
    storeId: 'boutique-1',
    windows: [[W0, W0 + 600_000]],
    stays: [],
    wifiPhones: {},
    visits: [
      { subject: 'tag:heard', person: 'p1', kind: 'regular', shop: 'boutique', enter: W0 + 60_000, exit: W0 + 180_000 },
      { subject: 'tag:missed', person: 'p2', kind: 'regular', shop: 'boutique', enter: W0 + 200_000, exit: W0 + 300_000 },
      { subject: 'tag:unheard', person: 'p3', kind: 'regular', shop: 'boutique', enter: W0 + 300_000, exit: W0 + 400_000 }
    ]
  }
  const lines: object[] = []
  for (let t = W0 + 60_000; t <= W0 + 400_000; t += 1000) {
    if (t <= W0 + 180_000) lines.push({ ts: t, store: 'boutique-1', sensor: 'b1', t: 'ble', id: 'tag:heard', rssi: -70 })
    if (t >= W0 + 200_000 && t <= W0 + 300_000) lines.push({ ts: t, store: 'boutique-1', sensor: 'b2', t: 'ble', id: 'tag:missed', rssi: -70 })
    // tag:unheard is only heard after its visit ended (the sensors near it came back on).
    if (t > W0 + 400_000 - 1000) lines.push({ ts: t + 5000, store: 'boutique-1', sensor: 'b1', t: 'ble', id: 'tag:unheard', rssi: -70 })
  }
  const trace = join(dir, 't.jsonl')
  writeFileSync(trace, lines.map(l => JSON.stringify(l)).join('\n') + '\n')
  writeFileSync(join(dir, 't.truth.json'), JSON.stringify(truth))
  const ev = (type: string, subject: string, ts: number) => JSON.stringify({ topic: `instore/boutique-1/events/${type}`, msg: { type, subject, ts, shop: 'boutique' } })
  writeFileSync(join(dir, 'rec.jsonl'), [ev('shop.enter', 'tag:heard', W0 + 61_000), ev('shop.exit', 'tag:heard', W0 + 179_000)].join('\n') + '\n')
  const r = await runBin('instore-eval', ['--site', join(ROOT, 'sites/boutique.site.json'), '--trace', trace, '--recording', join(dir, 'rec.jsonl'), '--json', '-'])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  const v = (JSON.parse(r.stdout) as { visits: { truth: number; unheard: number; recall: number } }).visits
  assert.deepEqual([v.truth, v.unheard, v.recall], [2, 1, 0.5])
})
