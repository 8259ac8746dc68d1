// Runs one of the package's commands as a child process and collects its output.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
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
    const child = spawn(process.execPath, [`${ROOT}/bin/${name}.mjs`, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
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
