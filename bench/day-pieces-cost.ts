// What people counting's day pieces (people-pieces.ts) cost the gateway's thread: `held` visitors of
// today held as a rotating fixture's possible pieces, then `erasures` erasures one subject at a time
// (as gateway.ts forwards them, each dropping a device), then `more` visitors counted at the 50,000 cap.
// Reports the CPU time of each and the held visitors read by whole-list sweeps, as JSON.
// `node --import tsx bench/day-pieces-cost.ts [held] [erasures] [more] [module]` (defaults 50000, 20000,
// 10000, the worktree's people-pieces.ts; `module`: another copy of it, to measure an older one).
import type { WifiDevice } from '../gateway/presence/wifi-device-types.ts'

const DAY = '2026-12-07'
const visitor = (address: string): WifiDevice => ({ address, stable: false, fp: 'ie0001', flood: false, countedDay: DAY }) as Partial<WifiDevice> as WifiDevice

function cpuMs(f: () => void): number {
  const t0 = process.cpuUsage()
  f()
  const t = process.cpuUsage(t0)
  return Math.round((t.user + t.system) / 1000)
}

const [held = 50_000, erasures = 20_000, more = 10_000] = process.argv.slice(2, 5).map(Number)
const { DayPieces } = (await import(process.argv[5] ?? '../gateway/presence/people-pieces.ts')) as typeof import('../gateway/presence/people-pieces.ts')
const p = new DayPieces()
// The first erasures each find a held device the linker drops; those beyond `held` find none.
const live = Array.from({ length: Math.min(held, erasures) }, (_, i) => visitor(`app:${i}`))
for (const d of live) p.counted(d, DAY)
for (let i = live.length; i < held; i++) p.counted(visitor(`h:${i}`), DAY)
const eraseMs = cpuMs(() => {
  for (let i = 0; i < erasures; i++) p.erase(`app:${i}`, () => live[i] && p.drop(live[i]))
})
const q = new DayPieces()
for (let i = 0; i < 50_000; i++) q.counted(visitor(`h:${i}`), DAY)
const moreMs = cpuMs(() => {
  for (let i = 0; i < more; i++) q.counted(visitor(`n:${i}`), DAY)
})
console.log(JSON.stringify({ held, erasures, more, eraseMs, moreMs, swept: (p.swept ?? null) === null ? null : p.swept + q.swept }))
