// The simulated boutique (as `npm run bench -- accuracy` makes it) with the grid filter forced
// (`filter: 'auto'` keeps the Kalman filter there: the boutique's floor is larger than the grid's
// cells allow), under grid option sets: what a change to the grid would do to simulated shoppers
// on a small shop that runs it.
//
//   node --import tsx bench/grid-boutique.ts [--duration S] [--seeds 7,9] ['{"huberK":2}' ...]
//
// Without option sets it runs the grid's defaults. Mean / median / p95 error, and the mean while
// the shopper stands and walks, m.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadSiteFile } from '../shared/site.ts'
import { loadScenario } from '../simulators/scenario.ts'
import { Simulator } from '../simulators/engine.ts'
import { trackerOptions, type TrackerOptions } from '../gateway/estimation/tracker.ts'
import { measureAccuracy } from './accuracy-lib.ts'
import { f2, simulate } from './trace-files.ts'

function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(name)
  return at >= 0 ? args[at + 1] : undefined
}

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const durationS = Number(option(args, '--duration') ?? 1800)
  const seedsArg = option(args, '--seeds')
  const seeds: Array<number | undefined> = seedsArg === undefined ? [undefined] : seedsArg.split(',').map(Number)
  const sets = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'))
  const grids = (sets.length > 0 ? sets : ['{}']).map(a => JSON.parse(a) as Partial<TrackerOptions['grid']>)
  const dir = mkdtempSync(join(tmpdir(), 'instore-grid-boutique-'))
  for (const seed of seeds) {
    const loaded = loadScenario('simulators/scenarios/boutique.json', { durationS, ...(seed === undefined ? {} : { seed }) })
    const trace = join(dir, `boutique-${seed ?? 'bench'}.jsonl`)
    await simulate(trace, new Simulator(loaded))
    const site = loadSiteFile(loaded.sitePath)
    const base = trackerOptions(site)
    for (const grid of grids) {
      const r = await measureAccuracy(site, trace, 'gateway', { filter: 'grid', grid: { ...base.grid, ...grid } })
      const b = r.breakdown
      console.log(
        `seed ${seed ?? "the bench's"}, ${durationS} s, grid ${JSON.stringify(grid)}: ${f2(r.error.mean)} / ${f2(r.error.median)} / ${f2(r.error.p95)} (standing ${f2(b.standing)}, walking ${f2(b.walking)})`
      )
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
