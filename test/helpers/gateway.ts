// Starts a real gateway in-process: embedded aedes broker on a free port, HTTP on a free port,
// data in a fresh temp folder.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Gateway, type GatewayOptions } from '../../gateway/gateway.ts'
import { loadSiteFile } from '../../shared/site.ts'
import { silentLogger } from '../../shared/log.ts'
import { ROOT } from './run.ts'
import type { PipelineOptions } from '../../gateway/pipeline.ts'
import type { Metrics } from '../../gateway/io/metrics.ts'
import { defaultClockOptions } from '../../gateway/ingest/clock.ts'

export async function startGateway(over: Partial<GatewayOptions> = {}, sitePath = join(ROOT, 'sites/boutique.site.json')): Promise<Gateway> {
  const g = new Gateway({
    site: loadSiteFile(sitePath),
    port: 0,
    host: '127.0.0.1',
    dataDir: mkdtempSync(join(tmpdir(), 'gw-')),
    clock: 'event',
    httpPort: 0,
    prefix: 'instore',
    secret: 'test-secret',
    log: silentLogger,
    ...over
  })
  await g.start()
  return g
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/**
 * Waits until `read` has returned the same value for `quietMs` (the way to check that something
 * did NOT happen again: a duplicate would change the value within the window). Bounded by timeoutMs.
 */
export async function waitSettled<T>(read: () => T | Promise<T>, quietMs: number, timeoutMs = 10_000, what = 'value to settle'): Promise<T> {
  const until = Date.now() + timeoutMs
  let last = JSON.stringify(await read())
  let since = Date.now()
  for (;;) {
    await new Promise(resolve => setTimeout(resolve, 20))
    const now = JSON.stringify(await read())
    if (now !== last) {
      last = now
      since = Date.now()
    }
    if (Date.now() - since >= quietMs) return JSON.parse(last) as T
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
  }
}

/** The pipeline options the in-process tests use: event clock, one tick a second, no self-calibration. */
export function eventPipelineOptions(wall?: () => number): PipelineOptions {
  return {
    prefix: 'instore',
    secret: 's',
    clock: { ...defaultClockOptions, mode: 'event', ...(wall !== undefined ? { wall } : {}) },
    tickMs: 1000,
    presenceMs: { ble: 10_000, wifi: 120_000 },
    maxMessageBytes: 1 << 16,
    selfCalibration: false
  }
}

/** The value of one metric line (`name` and its exact `labels`, e.g. `{reason="late"}`) in the text of `m`; 0 when absent. */
export function metricValue(m: Metrics, name: string, labels = ''): number {
  const line = m
    .text()
    .split('\n')
    .find(l => l.startsWith(name + labels + ' '))
  return line === undefined ? 0 : Number(line.split(' ').pop())
}
