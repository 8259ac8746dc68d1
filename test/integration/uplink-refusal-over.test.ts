// A config pull refused once (401: a proxy's or the server's hiccup) and then answered 304: the
// refusal is over, so /healthz stops naming it and live dashboard posts resume. Before, a 304
// never cleared it and live posts stopped until the config's version changed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewayStore } from '../../gateway/io/store.ts'
import { Uplink } from '../../gateway/io/uplink.ts'
import { silentLogger } from '../../shared/log.ts'
import { waitFor } from '../helpers/gateway.ts'

test('a 304 after a refused config pull clears the refusal and live posts resume', async () => {
  let pulls = 0
  let lives = 0
  const srv = createServer((req, res) => {
    if (req.url?.includes('/live')) {
      lives++
      res.writeHead(204).end()
    } else if (req.url?.includes('config')) {
      pulls++
      if (pulls === 1)
        res.writeHead(200, { etag: '"v1"', 'content-type': 'application/json' }).end(JSON.stringify({ version: 'v1', full: true, devices: [], removed: [], erasures: [] }))
      else if (pulls === 2) res.writeHead(401).end()
      else res.writeHead(304).end()
    } else res.writeHead(204).end()
  })
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}`
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'refusal-over-')))
  const up = new Uplink(
    { central: url, token: 'gw_x', storeId: 'boutique-1', batch: 500, minBackoffMs: 500, maxBackoffMs: 30_000, configEveryMs: 50 },
    store,
    silentLogger,
    () => {}
  )
  up.liveSnapshot = () => ({ ts: Date.now(), positions: [], occupancy: null, footfall: {} })
  up.start()
  try {
    await waitFor(() => pulls >= 3, 20_000, 'a pull answered 304 after the refusal')
    await waitFor(() => up.configProblem === null, 10_000, 'the refusal cleared')
    const before = lives
    await waitFor(() => lives > before, 20_000, 'live posts resumed')
  } finally {
    await up.stop(0)
    store.close()
    srv.close()
  }
  assert.equal(up.configProblem, null)
})
