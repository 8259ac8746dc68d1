// Real processes for end-to-end tests: the server and the gateway as their commands.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { binEntry, ROOT, START_TIMEOUT_MS } from './run.ts'
import { waitFor } from './gateway.ts'
import { serverDb } from './postgres.ts'

export interface Proc {
  child: ChildProcess
  out: () => string
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** Starts command `bin` (binEntry's script, or `entry`: another file that runs it, such as a build) and waits for `ready` in its output. */
export async function startProc(bin: string, args: string[], ready: RegExp, entry = binEntry(bin)): Promise<Proc> {
  const child = spawn(process.execPath, [entry, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', d => {
    out += d
  })
  child.stderr?.on('data', d => {
    out += d
  })
  await waitFor(() => ready.test(out) || child.exitCode !== null, START_TIMEOUT_MS, `${bin} to start`)
  if (child.exitCode !== null) throw new Error(`${bin} exited: ${out}`)
  return {
    child,
    out: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      // A process killed by a signal has no exit code but a signal code: it has exited all the same.
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      return await stopChild(child, signal)
    }
  }
}

/**
 * Sends `signal` and waits for the exit; a process still running after `graceMs` is killed and the
 * stop fails (a shutdown that hangs is a defect to see, and must not hold the test run forever).
 */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 30_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
  const exited = once(child, 'exit') as Promise<[number | null]>
  child.kill(signal)
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>(resolve => {
    timer = setTimeout(() => resolve('late'), graceMs)
  })
  const r = await Promise.race([exited, late])
  clearTimeout(timer)
  // Ended by a signal other than the one sent (a crash, the OOM killer): no exit code to give.
  if (r !== 'late' && child.signalCode !== null && child.signalCode !== signal) throw new Error(`pid ${child.pid} ended by ${child.signalCode} after ${signal}`)
  if (r !== 'late') return r[0]
  child.kill('SIGKILL')
  await exited
  throw new Error(`pid ${child.pid} did not exit within ${graceMs} ms of ${signal}`)
}

export async function startServer(data: string, adminToken: string, port = 0): Promise<Proc & { url: string }> {
  // On the PostgreSQL pass, each data folder has a database of its own (the same one at a restart).
  const { databaseUrl } = await serverDb(data)
  const p = await startProc(
    'instore-server',
    ['--port', String(port), '--data', data, '--admin-token', adminToken, ...(databaseUrl ? ['--database-url', databaseUrl] : [])],
    /"server started"/
  )
  return { ...p, url: (/"url":"(http:\/\/[0-9.:]+)"/.exec(p.out()) as RegExpExecArray)[1] }
}

export async function startGatewayProc(args: string[], entry?: string): Promise<Proc & { mqtt: string; http: string }> {
  const p = await startProc('instore-gateway', ['--port', '0', '--http-port', '0', ...args], /"gateway started"/, entry)
  return { ...p, mqtt: (/mqtt:\/\/[0-9.:]+/.exec(p.out()) as RegExpExecArray)[0], http: (/"http":"(http:\/\/[0-9.:]+)"/.exec(p.out()) as RegExpExecArray)[1] }
}

export async function api<T>(url: string, token: string | null, method = 'GET', body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  const text = await res.text()
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T }
}
