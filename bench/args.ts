// `npm run bench [-- PART] [--option value ...]`: which part to run, checked before anything runs
// or is written, so a typo never costs a full run nor leaves a results file of nothing.

/** Parts run by a bare `npm run bench`, then those run only when named. */
export const DEFAULT_PARTS = ['accuracy', 'filter', 'throughput', 'walks', 'events', 'central', 'analytics', 'visits', 'street', 'people'] as const
export const NAMED_PARTS = ['openhps', 'memory', 'soak', 'nights', 'chain'] as const

export const BENCH_USAGE = `usage: npm run bench [-- PART] [--option value ...]

Runs every default part, or only PART; results go to out/bench/results[-PART].json.
default parts: ${DEFAULT_PARTS.join(', ')}
named only:    ${NAMED_PARTS.join(', ')}
options (per part, see docs/benchmarks.md): --data DIR, --openhps DIR, --seeds 5,7,9, --scenario NAME,
  --duration S, --days N, --devices N, --database-url URL, ...
`

/**
 * The part asked for (undefined: all the default ones), or how the command must end instead:
 * `help` (usage, exit 0) or `unknown` (the list of parts, exit 2).
 */
export function benchPart(argv: string[]): { part: string | undefined } | { exit: 0 | 2; text: string } {
  if (argv.includes('--help') || argv.includes('-h')) return { exit: 0, text: BENCH_USAGE }
  const first = argv[0]
  if (first === undefined || first.startsWith('--')) return { part: undefined }
  if ((DEFAULT_PARTS as readonly string[]).includes(first) || (NAMED_PARTS as readonly string[]).includes(first)) return { part: first }
  return { exit: 2, text: `npm run bench: unknown part '${first}'\n\n${BENCH_USAGE}` }
}

/** benchPart, ending the process when it says so. */
export function benchPartOrExit(argv: string[]): string | undefined {
  const asked = benchPart(argv)
  if ('part' in asked) return asked.part
  ;(asked.exit === 0 ? process.stdout : process.stderr).write(asked.text)
  process.exit(asked.exit)
}

/** `--zones '{"shopEnterOdds":100}'`: zone parameters to try instead of the site file's ({} when not given). */
export function zonesOption(arg: string | undefined): Record<string, unknown> {
  let zones: unknown = {}
  try {
    if (arg !== undefined) zones = JSON.parse(arg)
  } catch (err) {
    throw new Error(`--zones wants a JSON object of zone parameters: ${(err as Error).message}`)
  }
  if (typeof zones !== 'object' || zones === null || Array.isArray(zones)) throw new Error(`--zones wants a JSON object of zone parameters, got ${arg}`)
  return zones as Record<string, unknown>
}
