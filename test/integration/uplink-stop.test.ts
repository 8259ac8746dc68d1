// stop() while a request is in flight: the loop that made it must not go to sleep for a whole pull
// period or backoff once it has its answer (a test of the trust suite waited a minute in stop()).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '../../shared/log.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { Uplink } from '../../gateway/io/uplink.ts'
import { waitFor } from '../helpers/gateway.ts'

/** A central server that holds every request of `held` ('config' or 'events') until released. */
async function holdingCentral(held: 'config' | 'events') {
  const waiting: ServerResponse[] = []
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      if ((req.url ?? '').split('?')[0].endsWith(`/${held}`)) waiting.push(res)
      else {
        res.writeHead(304)
        res.end()
      }
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const a = server.address()
  return { server, waiting, url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` }
}

/** How long `p` took, or null when it had not settled within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<number | null> {
  const t0 = Date.now()
  let timer: NodeJS.Timeout | undefined
  const done = await Promise.race([p.then(() => true), new Promise<false>(r => (timer = setTimeout(() => r(false), ms)))])
  clearTimeout(timer)
  return done ? Date.now() - t0 : null
}

for (const held of ['config', 'events'] as const) {
  test(`stop() while a ${held} request is in flight returns once it is answered, not a ${held === 'config' ? 'pull period' : 'backoff'} later`, async () => {
    const central = await holdingCentral(held)
    const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'uplink-stop-')))
    if (held === 'events') store.addEvent('e1', 'shop.enter', 1, JSON.stringify({ id: 'e1', type: 'shop.enter' }))
    // A minute to the next pull and a minute of backoff after a failed post: far beyond the bound below.
    const up = new Uplink(
      { central: central.url, token: 't', storeId: 's', batch: 10, minBackoffMs: 60_000, maxBackoffMs: 60_000, configEveryMs: 60_000, random: () => 1 },
      store,
      silentLogger,
      () => {}
    )
    try {
      up.start()
      await waitFor(() => central.waiting.length === 1, 10_000, `the ${held} request`)
      const stopping = up.stop(0)
      // The answer arrives after stop() began: a 304 to the pull, a 503 to the post (a backoff follows it).
      const res = central.waiting[0]
      res.writeHead(held === 'config' ? 304 : 503, { 'content-type': 'application/json' })
      res.end(held === 'config' ? undefined : JSON.stringify({ error: 'INSTORE_BUSY', message: 'busy' }))
      const took = await within(stopping, 10_000)
      assert.notEqual(took, null, 'stop() still waiting after 10 s')
    } finally {
      central.server.closeAllConnections()
      central.server.close()
      store.close()
    }
  })
}
