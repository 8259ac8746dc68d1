// What a config's erasures cost people counting's kept state (people-learned.ts): a gateway store
// with five rotating fixtures' spots (200 addresses each) and `places` model places (a day of slots
// each) kept, then `n` erasures of subjects it does not hold, through GatewayStore.eraseInSlices as
// gateway.ts calls it. Reports the CPU time of the erasures, the kept state's rewrites and its size.
// `node --import tsx bench/erase-learned-cost.ts [n] [places]` (defaults 20000, 100), as JSON.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadSiteFile, parseSite } from '../shared/site.ts'
import { GatewayStore } from '../gateway/io/store.ts'
import { People, peopleOptions, wifiModels } from '../gateway/presence/people.ts'

export async function eraseLearnedCost(n: number, places: number): Promise<{ n: number; places: number; cpuMs: number; saves: number; stateBytes: number }> {
  const site = parseSite(loadSiteFile('sites/boutique.site.json').file)
  const T0 = Date.UTC(2026, 10, 2, 9)
  const dir = mkdtempSync(join(tmpdir(), 'bench-erase-learned-'))
  const store = new GatewayStore(dir)
  try {
    let saves = 0
    const save = store.saveLearned.bind(store)
    store.saveLearned = (name, key, state, ts, mustKeep) => {
      if (name === 'people-learned') saves++
      return save(name, key, state, ts, mustKeep)
    }
    const p = new People(site, wifiModels(site), peopleOptions(site), mac => `h:${mac}`, store)
    for (let i = 0; i < 5; i++) {
      const addresses = new Set(Array.from({ length: 200 }, (_, k) => `h:${(i * 1000 + k).toString(16).padStart(16, '0')}`))
      p.wifi.spots.restoreChained({ fp: `ie000${i}`, floor: 0, x: 2 + i, y: 4.5, until: T0 + 7 * 86_400_000, intervalMs: 120_000, addresses })
    }
    for (let i = 0; i < places; i++) {
      const slots = Array.from({ length: 144 }, (_, k) => [Math.floor(T0 / 300_000) - k, 3] as [number, number])
      p.wifi.modelSpots.restore({ fp: `ie9${i}`, floor: 0, x: 1 + (i % 15), y: 1 + Math.floor(i / 15) * 0.5, weight: 10, lastTs: T0, slots, learned: false })
    }
    p.now(T0, [], [], 0)
    saves = 0
    const subjects = Array.from({ length: n }, (_, k) => `h:ffff${k.toString(16).padStart(12, '0')}`)
    const c0 = process.cpuUsage()
    await store.eraseInSlices(
      subjects,
      s => p.forget(s),
      () => p.saveErased()
    )
    const cpu = process.cpuUsage(c0)
    return { n, places, cpuMs: Math.round((cpu.user + cpu.system) / 1000), saves, stateBytes: store.loadLearned('people-learned')?.state.length ?? 0 }
  } finally {
    store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await eraseLearnedCost(Number(process.argv[2] ?? 20_000), Number(process.argv[3] ?? 100))))
}
