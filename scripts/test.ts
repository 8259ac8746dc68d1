// Runs the test tiers: `unit` (pure stages, in-process, seconds), `integration` (a real broker,
// SQLite and HTTP on port 0, the commands as child processes), `interop` (third-party parts:
// Mosquitto, Chromium, a mock BlueZ, PostgreSQL). Test files still in test/ itself, not yet filed
// into a tier, run with integration so that nothing added there is silently left out.
// The server's tests (those that start a server through test/helpers/postgres.ts or procs.ts's
// startServer) then run a second time on PostgreSQL (INSTORE_TEST_DB=postgres), on one cluster this
// script starts for the pass (each test process makes its own databases there, copies of a migrated
// template); without PostgreSQL installed that pass fails in CI and is left out, said so, elsewhere.
// The test files run bundled (scripts/test-files.ts: built once for both passes, run with plain node,
// each reported under its source's name), as the commands they spawn do (scripts/test-bins.ts).
// Usage: node --import tsx scripts/test.ts [unit|integration|interop|FILE.test.ts ...] (none: every tier;
// files: those alone, the server's among them on both engines, as in the full run).
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { inCi, present } from '../test/helpers/parts.ts'
import { PgCluster, SHARED_CLUSTER_ENV } from '../test/helpers/postgres.ts'
import { buildTestBins, TEST_BIN_ENV } from './test-bins.ts'
import { buildTestFiles, TEST_FILES_MAP_ENV, type TestBundles } from './test-files.ts'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TIERS = ['unit', 'integration', 'interop'] as const
type Tier = (typeof TIERS)[number]
/** One pass of the test runner, at most: far above a normal run, far below CI's limit (INSTORE_TEST_PASS_LIMIT_MS to test it). */
const PASS_LIMIT_MS = Number(process.env.INSTORE_TEST_PASS_LIMIT_MS) > 0 ? Number(process.env.INSTORE_TEST_PASS_LIMIT_MS) : 25 * 60_000

/**
 * The files that take longest, longest first (from the durations in a full run's output; the
 * figures are in docs/development.md). They start first so that the two lanes of a pass end together
 * instead of one running a long file alone at the end. A file missing from the list only starts later.
 */
export const SLOW_FIRST = [
  'test/interop/demo-browser.test.ts',
  'test/integration/scenario.test.ts',
  'test/integration/replay.test.ts',
  'test/integration/central.test.ts',
  'test/interop/dashboard-hostile.test.ts',
  'test/integration/erasure.test.ts',
  'test/integration/analytics.test.ts',
  'test/integration/gateway.test.ts',
  'test/interop/soak.test.ts',
  'test/integration/admin-token.test.ts',
  'test/integration/calibration.test.ts',
  'test/integration/retention.test.ts',
  'test/integration/fuzz.test.ts',
  'test/integration/firmware-auth.test.ts',
  'test/integration/restart.test.ts',
  'test/interop/pages-tokens.test.ts',
  'test/integration/throughput-bench.test.ts',
  'test/interop/replicas.test.ts',
  'test/integration/identity-cli.test.ts',
  'test/integration/live-slow-reader.test.ts'
]

/** `files` (paths relative to the root) with those of SLOW_FIRST first, in its order; the rest as they were. */
export function slowFirst(files: string[]): string[] {
  const rank = new Map(SLOW_FIRST.map((f, i) => [f, i]))
  const slow = files.filter(f => rank.has(f)).sort((a, b) => (rank.get(a) as number) - (rank.get(b) as number))
  return [...slow, ...files.filter(f => !rank.has(f))]
}

function testFiles(dir: string, deep: boolean): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory() && deep && e.name !== 'helpers') out.push(...testFiles(p, true))
    else if (e.isFile() && e.name.endsWith('.test.ts')) out.push(p)
  }
  return out.sort()
}

export function tierFiles(tier: Tier, root = ROOT): string[] {
  const files = testFiles(join(root, 'test', tier), true)
  if (tier === 'integration') files.push(...testFiles(join(root, 'test'), false))
  return files
}

async function main(): Promise<number> {
  const picked = pickFiles(process.argv.slice(2))
  if (typeof picked === 'string') {
    process.stderr.write(`${picked}\n`)
    return picked.startsWith('no test files') ? 1 : 2
  }
  const files = slowFirst(picked)
  // The commands the tests spawn, bundled once for both passes (scripts/test-bins.ts); a run started
  // by a test of a run (test-tiers.test.ts) uses the bundles of the run that started it.
  const given = process.env[TEST_BIN_ENV]
  if (given !== undefined && given !== '' && existsSync(given)) return await passes(files, process.env)
  let bins: string
  try {
    bins = await buildTestBins()
  } catch (err) {
    process.stderr.write(`the commands could not be bundled for the tests: ${(err as Error).message}\n`)
    return 1
  }
  try {
    return await passes(files, { ...process.env, [TEST_BIN_ENV]: bins })
  } finally {
    rmSync(bins, { recursive: true, force: true })
  }
}

/** The SQLite pass over `files`, then the PostgreSQL pass over the server's among them; the exit code. */
async function passes(files: string[], env: NodeJS.ProcessEnv): Promise<number> {
  // The test files, bundled once for both passes (scripts/test-files.ts): no tsx in their processes.
  let tests: TestBundles
  try {
    tests = await buildTestFiles(files)
  } catch (err) {
    process.stderr.write(`the test files could not be bundled: ${(err as Error).message}\n`)
    return 1
  }
  try {
    return await bundledPasses(files, tests, { ...env, [TEST_FILES_MAP_ENV]: tests.map })
  } finally {
    rmSync(tests.dir, { recursive: true, force: true })
  }
}

async function bundledPasses(files: string[], tests: TestBundles, env: NodeJS.ProcessEnv): Promise<number> {
  const pass = (list: string[], passEnv: NodeJS.ProcessEnv): Promise<number> =>
    runPass(
      tests.runner,
      list.map(f => tests.bundles.get(resolve(ROOT, f)) as string),
      passEnv
    )
  // Two at a time: the integration tests start gateways and servers; more would starve each other on
  // small machines. A file exits once its tests have ended, whatever it left open (a hung child must
  // fail its test, not hold the run); one that runs past its timeout is named `not ok` and stopped
  // (scripts/test-run.ts), and a pass that still runs past PASS_LIMIT_MS is stopped.
  const status = await pass(files, env)
  const server = serverFiles(files)
  if (server.length === 0 || interrupted) return status
  if (!present('postgresql') && !inCi()) {
    process.stderr.write(`PostgreSQL is not installed: the ${server.length} server test files ran on SQLite only (.ci/run installs it)\n`)
    return status
  }
  process.stdout.write(`# the server's tests again, on PostgreSQL (${server.length} files)\n`)
  let cluster: PgCluster
  try {
    cluster = await PgCluster.start()
  } catch (err) {
    process.stderr.write(`the PostgreSQL pass could not start its cluster: ${(err as Error).message}\n`)
    return 1
  }
  try {
    const template = await cluster.makeTemplate()
    const pgStatus = await pass(server, { ...env, INSTORE_TEST_DB: 'postgres', [SHARED_CLUSTER_ENV]: template })
    return status !== 0 ? status : pgStatus
  } finally {
    cluster.stopSync()
  }
}

let interrupted = false

/**
 * One pass of `runner` (scripts/test-run.ts's bundle: `node --test FILES` sorts the files, undoing
 * slowFirst) over the test files' bundles `list`, its exit code. The pass runs in its own process group, killed whole when it ends: the
 * processes a stopped or careless test file started (gateways, servers, brokers) do not outlive it.
 * A Ctrl-C or SIGTERM here stops the group too (it is not in the terminal's foreground group).
 */
function runPass(runner: string, list: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise(done => {
    const child = spawn(process.execPath, ['--enable-source-maps', runner, ...list], { cwd: ROOT, stdio: 'inherit', env, detached: true })
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
      } catch {
        // ESRCH: nothing of the group left.
      }
    }
    let overdue = false
    const limit = setTimeout(() => {
      overdue = true
      killGroup()
    }, PASS_LIMIT_MS)
    const stop = (): void => {
      interrupted = true
      killGroup()
    }
    process.on('SIGINT', stop).on('SIGTERM', stop)
    const end = (status: number, why?: string): void => {
      clearTimeout(limit)
      process.off('SIGINT', stop).off('SIGTERM', stop)
      killGroup()
      if (why !== undefined) process.stderr.write(`${why}\n`)
      done(status)
    }
    child.on('error', err => end(1, `the test run could not start: ${err.message}`))
    child.on('exit', (code, signal) => {
      if (interrupted) end(130, 'the test run was interrupted: its processes were killed')
      else if (overdue) end(1, `the test run was stopped after ${PASS_LIMIT_MS / 60_000} min and its processes killed: see the test files not yet reported above`)
      else end(code ?? 1, signal !== null ? `the test run ended on ${signal}` : undefined)
    })
  })
}

/**
 * The files (relative to the root) the arguments name: tiers, test files, or every tier when none;
 * a message when one is neither or nothing is left.
 */
export function pickFiles(asked: string[], root = ROOT): string[] | string {
  const bad = asked.filter(a => !(TIERS as readonly string[]).includes(a) && !(a.endsWith('.test.ts') && existsSync(resolve(root, a))))
  if (bad.length > 0) return `neither a tier nor a test file: ${bad.join(', ')} (tiers: ${TIERS.join(', ')})`
  const tiers = asked.length > 0 ? (asked.filter(a => (TIERS as readonly string[]).includes(a)) as Tier[]) : [...TIERS]
  const named = asked.filter(a => a.endsWith('.test.ts')).map(a => relative(root, resolve(root, a)))
  const files = [...new Set([...tiers.flatMap(t => tierFiles(t, root)).map(f => relative(root, f)), ...named])]
  return files.length > 0 ? files : `no test files in ${asked.join(', ') || TIERS.join(', ')}`
}

/** The test files that start a server whose database the PostgreSQL pass can swap. */
export function serverFiles(files: string[], root = ROOT): string[] {
  return files.filter(f => /helpers\/postgres\.ts'|\bstartServer\(/.test(readFileSync(join(root, f), 'utf8')))
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = await main()
