// Runs the test tiers: `unit` (pure stages, in-process, seconds), `integration` (a real broker,
// SQLite and HTTP on port 0, the commands as child processes), `interop` (third-party parts:
// Mosquitto, Chromium, a mock BlueZ, PostgreSQL). Test files still in test/ itself, not yet filed
// into a tier, run with integration so that nothing added there is silently left out.
// The server's tests (those that start a server through test/helpers/postgres.ts or procs.ts's
// startServer) then run a second time on PostgreSQL (INSTORE_TEST_DB=postgres, a private cluster
// per file); without PostgreSQL installed that pass fails in CI and is left out, said so, elsewhere.
// Usage: node --import tsx scripts/test.ts [unit|integration|interop ...] (none: every tier).
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { inCi, present } from '../test/helpers/parts.ts'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const TIERS = ['unit', 'integration', 'interop'] as const
type Tier = (typeof TIERS)[number]
/** One pass of the test runner, at most: far above a normal run, far below CI's limit. */
const PASS_LIMIT_MS = 25 * 60_000

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

function main(): number {
  const asked = process.argv.slice(2)
  const bad = asked.filter(a => !(TIERS as readonly string[]).includes(a))
  if (bad.length > 0) {
    process.stderr.write(`unknown tier ${bad.join(', ')} (tiers: ${TIERS.join(', ')})\n`)
    return 2
  }
  const tiers = asked.length > 0 ? (asked as Tier[]) : [...TIERS]
  const files = tiers.flatMap(t => tierFiles(t)).map(f => relative(ROOT, f))
  if (files.length === 0) {
    process.stderr.write(`no test files in ${tiers.join(', ')}\n`)
    return 1
  }
  // Two at a time: the integration tests start gateways and servers; more would starve each other on
  // small machines. A file exits once its tests have ended, whatever it left open (a hung child must
  // fail its test, not hold the run), and a pass that still runs past PASS_LIMIT_MS is stopped.
  const run = (list: string[], env: NodeJS.ProcessEnv = process.env): number => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-force-exit', ...list], {
      cwd: ROOT,
      stdio: 'inherit',
      env,
      timeout: PASS_LIMIT_MS,
      killSignal: 'SIGKILL'
    })
    if (r.error !== undefined || r.signal !== null) {
      process.stderr.write(`the test run was stopped after ${PASS_LIMIT_MS / 60_000} min (${r.error?.message ?? r.signal}): a test file hung\n`)
      return 1
    }
    return r.status ?? 1
  }
  const status = run(files)
  const server = serverFiles(files)
  if (server.length === 0) return status
  if (!present('postgresql') && !inCi()) {
    process.stderr.write(`PostgreSQL is not installed: the ${server.length} server test files ran on SQLite only (.ci/run installs it)\n`)
    return status
  }
  process.stdout.write(`# the server's tests again, on PostgreSQL (${server.length} files)\n`)
  const pgStatus = run(server, { ...process.env, INSTORE_TEST_DB: 'postgres' })
  return status !== 0 ? status : pgStatus
}

/** The test files that start a server whose database the PostgreSQL pass can swap. */
export function serverFiles(files: string[], root = ROOT): string[] {
  return files.filter(f => /helpers\/postgres\.ts'|\bstartServer\(/.test(readFileSync(join(root, f), 'utf8')))
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main()
