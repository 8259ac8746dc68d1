// Starts a real gateway in-process: embedded aedes broker on a free port, HTTP on a free port,
// data in a fresh temp folder.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Gateway, type GatewayOptions } from '../../gateway/gateway.ts'
import { loadSiteFile } from '../../shared/site.ts'
import { silentLogger } from '../../shared/log.ts'
import { ROOT } from './run.ts'

export async function startGateway (over: Partial<GatewayOptions> = {}, sitePath = join(ROOT, 'sites/boutique.site.json')): Promise<Gateway> {
  const g = new Gateway({
    site: loadSiteFile(sitePath), port: 0, host: '127.0.0.1', dataDir: mkdtempSync(join(tmpdir(), 'gw-')),
    clock: 'event', httpPort: 0, prefix: 'instore', secret: 'test-secret', log: silentLogger, ...over
  })
  await g.start()
  return g
}

export async function waitFor (cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
