import { loadSiteFile } from '../shared/site.ts'
import { readJsonLines, isTruth, isReading, type TraceLine } from '../shared/trace.ts'
import { Tracker, trackerOptions } from '../gateway/tracker.ts'
import { sensorModels } from '../gateway/radio-model.ts'
import { summarize } from '../shared/stats.ts'
const [siteF, trace] = process.argv.slice(2)
const site = loadSiteFile(siteF)
const tracker = new Tracker(site, sensorModels(site), trackerOptions(site))
// group fixes by (subject, truth position) = still segments
const seg = new Map<string, { tx: number, ty: number, fx: number[], fy: number[], kx: number[], ky: number[], off: number[] }>()
for await (const l of readJsonLines<TraceLine>(trace)) {
  if (isReading(l) && l.id) tracker.addReading(l.id, l.sensor, l.ts, l.rssi)
  if (isTruth(l) && l.truth.subject.startsWith('app:')) {
    const e = tracker.estimate(l.truth.subject, l.ts)
    if (!e) continue
    const k = `${l.truth.subject}@${l.truth.x},${l.truth.y}`
    const s = seg.get(k) ?? { tx: l.truth.x, ty: l.truth.y, fx: [], fy: [], kx: [], ky: [], off: [] }
    s.fx.push(e.fix.x); s.fy.push(e.fix.y); s.kx.push(e.x); s.ky.push(e.y); s.off.push(e.fix.offsetDb); seg.set(k, s)
  }
}
const bias: number[] = []; const fixE: number[] = []; const kfE: number[] = []
for (const s of seg.values()) {
  if (s.fx.length < 8) continue
  const mx = s.fx.slice(3).reduce((a, b) => a + b, 0) / (s.fx.length - 3); const my = s.fy.slice(3).reduce((a, b) => a + b, 0) / (s.fy.length - 3)
  bias.push(Math.hypot(mx - s.tx, my - s.ty))
  s.fx.forEach((x, i) => { fixE.push(Math.hypot(x - s.tx, s.fy[i] - s.ty)); kfE.push(Math.hypot(s.kx[i] - s.tx, s.ky[i] - s.ty)) })
}
console.log('segments', bias.length, 'bias of mean fix', summarize(bias).mean.toFixed(2), 'fix err', summarize(fixE).mean.toFixed(2), 'kf err', summarize(kfE).mean.toFixed(2))
