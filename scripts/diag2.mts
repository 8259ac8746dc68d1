import { loadSiteFile, locate } from '../shared/site.ts'
import { readJsonLines, isTruth, isReading, type TraceLine } from '../shared/trace.ts'
import { Tracker, trackerOptions } from '../gateway/tracker.ts'
import { sensorModels } from '../gateway/radio-model.ts'
import { summarize } from '../shared/stats.ts'
const [siteF, trace] = process.argv.slice(2)
const site = loadSiteFile(siteF)
const tracker = new Tracker(site, sensorModels(site), trackerOptions(site))
const prev = new Map<string, { x: number, y: number }>()
const groups: Record<string, number[]> = {}
let printed = 0
for await (const l of readJsonLines<TraceLine>(trace)) {
  if (isReading(l) && l.id) tracker.addReading(l.id, l.sensor, l.ts, l.rssi)
  if (isTruth(l) && l.truth.subject.startsWith('app:')) {
    const e = tracker.estimate(l.truth.subject, l.ts)
    if (!e) continue
    const p = prev.get(l.truth.subject); prev.set(l.truth.subject, l.truth)
    const moving = p ? Math.hypot(p.x - l.truth.x, p.y - l.truth.y) > 0.3 : false
    const inside = locate(site, l.truth.x, l.truth.y).shop !== null
    const k = (moving ? 'moving' : 'still') + '/' + (inside ? 'in' : 'out')
    const err = Math.hypot(e.x - l.truth.x, e.y - l.truth.y)
    ;(groups[k] ??= []).push(err)
    if (printed < 15 && !moving && inside && l.ts % 10000 === 0) { printed++; console.log(l.truth.subject, l.truth.x, l.truth.y, '->', e.x.toFixed(1), e.y.toFixed(1), 'fix', e.fix.x.toFixed(1), e.fix.y.toFixed(1), e.fix.method, e.sensors, e.accuracyM.toFixed(1), tracker.observations(l.truth.subject, l.ts).map(o => o.sensor.id + ':' + o.rssi.toFixed(0)).join(' ')) }
  }
}
for (const [k, v] of Object.entries(groups)) { const s = summarize(v); console.log(k, s.n, s.mean.toFixed(2), s.median.toFixed(2), s.p95.toFixed(2)) }
