// What the pools' worker group (worker-group.ts) needs of its workers:
// finding a worker's module, starting one, and growing the shared buffers they work in.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'

const FROM_SOURCE = import.meta.url.endsWith('.ts')

/** The worker module `name` beside the gateway: its source under tsx, else the built `.mjs`. */
export function workerScript(name: string): URL {
  return new URL(FROM_SOURCE ? `./${name}.ts` : `./${name}.mjs`, import.meta.url)
}

/** Refuses a pool whose worker file is missing: a build copied without it would restart failing workers unseen. */
export function requireWorker(script: URL, pool: string): void {
  if (script.protocol === 'file:' && !existsSync(fileURLToPath(script)))
    throw new Error(`the ${pool}'s worker ${fileURLToPath(script)} is missing (npm run build writes it beside the gateway)`)
}

/** Starts a worker on `script` with `data` (from source through pool-boot.mjs, which loads tsx). */
export function spawnWorker(script: URL, data: Record<string, unknown>): Worker {
  const boot = FROM_SOURCE ? new URL('./pool-boot.mjs', import.meta.url) : script
  const w = new Worker(boot, { workerData: { script: script.href, ...data } })
  // A worker never holds the process open; its failure is noticed by the pool's deadline or its exit.
  w.unref()
  w.on('error', () => {})
  return w
}

/** A buffer length for `need` items: a power of two, never less than `have`. */
export function grown(have: number, need: number): number {
  return Math.max(have, 2 ** Math.ceil(Math.log2(Math.max(1, need))))
}
