import { readFileSync } from 'node:fs'
import { summarize } from '../shared/stats.ts'
const dir = '../shared/data/kolakowski-ble-flat/'
function csv(p: string) { const [h, ...r] = readFileSync(dir + p, 'utf8').trim().split('\n'); const c = h.split(','); return r.map(l => { const v = l.split(','); return Object.fromEntries(c.map((k, i) => [k, v[i]])) }) }
const cal = csv('calibration/calibration_df.csv').map(r => ({ x: +r.x, y: +r.y, f: [1,2,3,4,5,6].map(i => r['rssi_'+i] === '' ? -100 : +r['rssi_'+i]) }))
const test = csv('tests/test_robot_df.csv').map(r => ({ x: +r.x, y: +r.y, f: [1,2,3,4,5,6].map(i => r['rssi_'+i] === '' ? -100 : +r['rssi_'+i]) }))
// grid-average the calibration fingerprints (0.5 m cells) to tame per-sample noise
const cells = new Map<string, { x: number, y: number, f: number[], n: number }>()
for (const c of cal) { const k = `${Math.round(c.x/0.5)},${Math.round(c.y/0.5)}`; const e = cells.get(k) ?? { x: 0, y: 0, f: [0,0,0,0,0,0], n: 0 }; e.x += c.x; e.y += c.y; c.f.forEach((v, i) => e.f[i] += v); e.n++; cells.set(k, e) }
const grid = [...cells.values()].map(e => ({ x: e.x/e.n, y: e.y/e.n, f: e.f.map(v => v/e.n) }))
for (const K of [5, 10, 20]) for (const avg of [1, 3, 5]) {
  const errs: number[] = []
  for (let t = 0; t < test.length; t++) {
    const f = [0,1,2,3,4,5].map(i => { let s = 0, n = 0; for (let j = Math.max(0, t-avg+1); j <= t; j++) { s += test[j].f[i]; n++ } return s/n })
    const d = grid.map(g => ({ g, d: g.f.reduce((a, v, i) => a + (v - f[i]) ** 2, 0) })).sort((a, b) => a.d - b.d).slice(0, K)
    let sw = 0, sx = 0, sy = 0; for (const { g, d: dd } of d) { const w = 1 / (dd + 1); sw += w; sx += w * g.x; sy += w * g.y }
    errs.push(Math.hypot(sx/sw - test[t].x, sy/sw - test[t].y))
  }
  const s = summarize(errs); console.log('K', K, 'avg', avg, s.mean.toFixed(3), s.median.toFixed(3), s.p95.toFixed(3))
}
