// What a stranger's device on the street can do to the front-wall learning (model-spots.ts, a place
// learned with its neighbours): shoppers of one model fill a place 1.5 m inside the front wall through
// 14 open hours; at night a device beyond the wall sends that model's fingerprint twice a slot, placed
// outside but for `k` slots an hour placed inside in `n` of the night's hours. One line per (n, k):
// whether a fixture spot is learned within three days.
// `node --import tsx bench/model-spots-stranger.ts [module]` (default the worktree's model-spots.ts;
// `module`: an absolute path to another copy of it, to measure an older one).
import type { Burst } from '../gateway/presence/wifi-device-types.ts'

const SLOT = 600_000
const HOUR = 3_600_000
const path = process.argv[2] ?? '../gateway/presence/model-spots.ts'
const { ModelSpots } = (await import(path)) as typeof import('../gateway/presence/model-spots.ts')
const burst = (ts: number, y: number): Burst => ({
  ts,
  x: 14,
  y,
  floor: 0,
  shop: y >= 0 ? 'shop' : null,
  sector: null,
  maxRssi: -50,
  depth: Math.abs(y),
  seq: null,
  fp: 'ie0006',
  sensor: 's1'
})

for (const n of [1, 2, 3, 4, 10]) {
  for (const k of [1, 2, 3]) {
    let learned = 0
    const m = new ModelSpots(6, 0.7, (_x, y) => y >= 0, {
      add: s => {
        learned++
        return { ...s, until: Infinity, addresses: new Set<string>() }
      },
      remove: () => {},
      has: () => true
    })
    // Two places of the model to start with, one each side of the wall.
    m.observe(burst(-2 * SLOT, 4.5))
    m.observe(burst(-SLOT, -4.5))
    for (let i = 0; i < 3 * 144; i++) {
      const hour = ((i * SLOT) / HOUR) % 24
      const open = hour >= 7 && hour < 21
      const night = (hour + 3) % 24 // 0 at 21:00
      for (const dt of [100_000, 400_000]) {
        const stray = !open && night < n && i % 6 < k && dt === 100_000
        m.observe(burst(i * SLOT + dt, open || stray ? 1.5 : -1.5))
      }
      m.flush(i * SLOT + 500_000)
    }
    console.log(JSON.stringify({ nightHours: n, slotsInsideAnHour: k, insideBurstsANight: Math.min(n, 10) * k, learned: learned > 0 }))
  }
}
