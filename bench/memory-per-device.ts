// Memory per tracked device, by structure: a tracker fed the many-device trace's kind of traffic
// (bench/many-devices.ts: tags drifting about the site, heard once a second by the sensors within
// 20 m) for as long as a walk history fills, estimating every active device every second as the
// pipeline does. Then, the garbage collected after each step, the heap it holds is measured, and
// again with each structure released in turn: what is left after the last step is the device's
// shell. Needs `--expose-gc` (`npm run bench` passes it).
//   npm run bench -- memory [--devices N]
import { loadSiteFile } from '../shared/site.ts'
import { Rng } from '../shared/rng.ts'
import { Tracker, trackerOptions, type Estimate } from '../gateway/estimation/tracker.ts'
import { sensorModels } from '../gateway/estimation/radio-model.ts'
import type { RssiWindows } from '../gateway/estimation/rssi-window.ts'
import type { WalkHistory } from '../gateway/estimation/street-walk.ts'
import type { MotionFilter } from '../gateway/estimation/kalman.ts'

/** Bytes a device, per structure (the last tick's estimates are what the presence stage is handed). */
export interface MemoryPerDevice {
  devices: number
  seconds: number
  /** Mean RSSI windows (one per sensor heard) and walk fixes kept per device. */
  windowsPerDevice: number
  walkFixesPerDevice: number
  bytes: { estimates: number; walkHistory: number; windows: number; motionFilter: number; device: number; total: number }
}

/** What the measurement reaches into: the tracker's devices (private to it, read here only). */
interface DeviceParts {
  walk: WalkHistory
  windows: RssiWindows | null
  kf: MotionFilter | null
}

function heap(): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc (npm run bench passes it)')
  for (let i = 0; i < 3; i++) gc()
  // Typed arrays past a few dozen bytes keep their numbers outside the heap.
  const u = process.memoryUsage()
  return u.heapUsed + u.arrayBuffers
}

export function memoryPerDevice(sitePath: string, devices = 5000, seconds = 40, seed = 28): MemoryPerDevice {
  const site = loadSiteFile(sitePath)
  const rng = new Rng(seed)
  const sensors = [...site.sensors.values()]
  const [x0, y0, x1, y1] = site.bbox
  const pos = Array.from({ length: devices }, () => [rng.uniform(x0, x1), rng.uniform(y0, y1)])
  const ids = Array.from({ length: devices }, (_, i) => `tag:${i.toString(16).padStart(8, '0')}`)
  const before = heap()
  let tracker: Tracker | null = new Tracker(site, sensorModels(site), trackerOptions(site))
  let last: Map<string, Estimate> | null = new Map()
  const t0 = Date.UTC(2026, 10, 7, 15)
  for (let s = 0; s < seconds; s++) {
    for (let i = 0; i < devices; i++) {
      const p = pos[i]
      p[0] = Math.min(x1, Math.max(x0, p[0] + rng.normal(0, 0.3)))
      p[1] = Math.min(y1, Math.max(y0, p[1] + rng.normal(0, 0.3)))
      const ts = t0 + s * 1000 + (i % 1000)
      for (const sn of sensors) {
        const d = Math.hypot(p[0] - sn.x, p[1] - sn.y, site.radio.tagHeightM - sn.z)
        if (d > 20) continue
        const rssi = Math.round(site.radio.rssiAt1m - 10 * site.radio.pathLossExponent * Math.log10(Math.max(0.5, d)) + rng.normal(0, 6))
        if (rssi >= -98) tracker.addReading(ids[i], sn.id, ts, rssi)
      }
    }
    const t = t0 + s * 1000 + 1000
    last = new Map()
    for (const subject of [...tracker.active(t)]) {
      const e = tracker.estimate(subject, t)
      if (e !== null) last.set(subject, e)
    }
    tracker.expire(t)
  }
  const parts = [...(tracker as unknown as { devices: Map<string, DeviceParts> }).devices.values()]
  const n = parts.length
  const windowsPerDevice = parts.reduce((a, d) => a + (d.windows?.size ?? 0), 0) / n
  const walkFixesPerDevice = parts.reduce((a, d) => a + d.walk.fixes.length, 0) / n
  const steps: number[] = [heap()]
  // Read once more after the first measurement: the estimates must be alive until then.
  if (last.size < 0) throw new Error('unreachable')
  last = null
  steps.push(heap())
  for (const d of parts) d.walk.clear()
  steps.push(heap())
  for (const d of parts) d.windows = null
  steps.push(heap())
  for (const d of parts) d.kf = null
  steps.push(heap())
  parts.length = 0
  tracker = null
  steps.push(heap())
  const per = (a: number, b: number) => Math.round((steps[a] - steps[b]) / n)
  return {
    devices: n,
    seconds,
    windowsPerDevice,
    walkFixesPerDevice,
    bytes: { estimates: per(0, 1), walkHistory: per(1, 2), windows: per(2, 3), motionFilter: per(3, 4), device: per(4, 5), total: Math.round((steps[0] - before) / n) }
  }
}
