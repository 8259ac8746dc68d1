// What self-calibration's evidence per fix costs the main thread: the sensors' median as the code
// before worked it out (a plain array sorted with a comparator) against `medianAsSorted` (a typed
// array sorted in place), and `Math.hypot` of three against `hypot3`. CPU ms per run, three rounds
// each, alternating; every pair prints the same sum, so the answers agree.
//   node --import tsx bench/self-calibration-cost.ts [--sensors N] [--fixes N]   (default: 80 sensors, 50,000 fixes)
import { medianAsSorted } from '../gateway/estimation/self-calibration.ts'
import { hypot3 } from '../shared/geometry.ts'
import { Rng } from '../shared/rng.ts'

const option = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`)
  const v = at > 0 ? Number(process.argv[at + 1]) : fallback
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} wants a whole number of at least 1, got ${process.argv[at + 1]}`)
  return v
}
const n = option('sensors', 80)
const fixes = option('fixes', 50_000)
const rng = new Rng(28)
const values = Array.from({ length: n }, () => (rng.next() - 0.5) * 6)
const byValue = (a: number, b: number): number => a - b
const kept: number[] = []
const before = (): number => {
  kept.length = 0
  for (const v of values) kept.push(v)
  kept.sort(byValue)
  const h = kept.length >> 1
  return kept.length % 2 === 1 ? kept[h] : (kept[h - 1] + kept[h]) / 2
}
const sorted = new Float64Array(n)
const inOrder = new Float64Array(n)
const after = (): number => {
  for (let i = 0; i < n; i++) {
    sorted[i] = values[i]
    inOrder[i] = values[i]
  }
  return medianAsSorted(sorted.subarray(0, n), inOrder.subarray(0, n))
}
const cpuMs = (f: () => number, times: number): [number, number] => {
  const t = process.cpuUsage()
  let sum = 0
  for (let i = 0; i < times; i++) sum += f()
  const u = process.cpuUsage(t)
  return [(u.user + u.system) / 1000, sum]
}
for (let round = 0; round < 3; round++) {
  for (const [name, f] of [
    ['median, comparator sort', before],
    ['median, medianAsSorted', after],
    ['distance, Math.hypot', (): number => Math.hypot(values[0], values[1], 1.2)],
    ['distance, hypot3', (): number => hypot3(values[0], values[1], 1.2)]
  ] as const) {
    const times = name.startsWith('median') ? fixes : fixes * n
    const [ms, sum] = cpuMs(f, times)
    console.log(`${name}: ${ms.toFixed(0)} ms CPU for ${times} (sum ${sum.toFixed(6)})`)
  }
}
