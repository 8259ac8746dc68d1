// Runs one of the package's commands as a child process and collects its output.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/**
 * How long a test waits for one of the commands to say it has started before calling it hung. A
 * bound for a hang, not a measure of start-up: a shared 2-core machine under load took over 30 s.
 */
export const START_TIMEOUT_MS = 120_000

/** A TCP port free on 127.0.0.1 a moment ago, for a real part (a broker, a database) to listen on. */
export async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as { port: number }).port
  await new Promise<void>(resolve => s.close(() => resolve()))
  return port
}

/**
 * The script that starts command `name`: its bundle from the folder scripts/test.ts built for the run
 * (INSTORE_TEST_BIN_DIR, scripts/test-bins.ts: no TypeScript to load at each start), else bin/.
 * A folder named without the command in it is an error, not a silent fall back to the source.
 */
export function binEntry(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.INSTORE_TEST_BIN_DIR
  if (dir === undefined || dir === '') return join(ROOT, 'bin', `${name}.mjs`)
  const built = join(dir, `${name}.mjs`)
  if (!existsSync(built)) throw new Error(`INSTORE_TEST_BIN_DIR has no ${name}.mjs (${built}): run the tests through scripts/test.ts, or unset it`)
  return built
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * How long runBin lets a command run before killing it as hung (unless told otherwise): a bound for
 * a hang, far above an idle run of the longest (a simulated hour replayed) on a loaded 2-core machine.
 */
export const RUN_TIMEOUT_MS = 300_000

export function runBin(name: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binEntry(name), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => {
      stdout += d
    })
    child.stderr.on('data', d => {
      stderr += d
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${name} timed out\n${stdout}\n${stderr}`))
    }, opts.timeoutMs ?? RUN_TIMEOUT_MS)
    child.on('error', reject)
    child.on('close', code => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
