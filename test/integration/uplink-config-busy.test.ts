// Reviewer (s10): the central server allows one config pull in progress per token and answers
// another with 429 INSTORE_CONFIG_BUSY and Retry-After: 1 (a gateway restarted while its previous
// pull is still being built, or two gateways given one store token). The gateway read every 429 as
// the failed-auth limit: /healthz blamed authentications, and the pull backed off (at least one
// period, doubling) instead of waiting the second asked. A real HTTP server answers busy, then 200.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '../../shared/log.ts'
import { waitFor } from '../helpers/gateway.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { Uplink } from '../../gateway/io/uplink.ts'
import { refusal } from '../../gateway/io/config-trouble.ts'

test('a busy config pull waits as the server asks, without back-off, and /healthz does not blame authentications', async () => {
  const pulls: number[] = []
  const server = createServer((req, res) => {
    if (!req.url?.includes('/config')) return void res.writeHead(404).end()
    pulls.push(Date.now())
    if (pulls.length === 1) {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' })
      return void res.end(JSON.stringify({ error: 'INSTORE_CONFIG_BUSY', message: 'this token is already pulling this config: wait for that reply' }))
    }
    res.writeHead(200, { 'content-type': 'application/json', etag: '"v1"' })
    res.end(JSON.stringify({ storeId: 's1', version: '1', full: true, devices: [], removed: [], erasures: [] }))
  })
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'uplink-busy-gw-')))
  let applied = 0
  // A period of a minute: backing off (one period or more) would miss the wait below.
  const up = new Uplink({ central: url, token: 'gw_token', storeId: 's1', batch: 500, minBackoffMs: 500, maxBackoffMs: 30_000, configEveryMs: 60_000 }, store, silentLogger, () => {
    applied++
  })
  up.start()
  try {
    await waitFor(() => up.configProblem !== null, 10_000, 'the busy answer')
    assert.match(up.configProblem?.message ?? '', /busy \(HTTP 429 INSTORE_CONFIG_BUSY\)/)
    assert.doesNotMatch(up.configProblem?.message ?? '', /authentication/)
    await waitFor(() => applied === 1, 10_000, 'the config applied after the wait asked')
    const waited = (pulls[1] ?? 0) - (pulls[0] ?? 0)
    assert.ok(waited >= 900 && waited < 10_000, `pulled again after ${waited} ms`)
    assert.equal(up.configProblem, null)
  } finally {
    await up.stop(0)
    store.close()
    await new Promise(r => server.close(r))
  }
})

test('a 429 is told apart by its error code; a hostile Retry-After is bounded', () => {
  const busy = (after: string | null) => refusal(429, '{"error":"INSTORE_CONFIG_BUSY"}', after, 10_000).waitMs
  assert.deepEqual([busy('1'), busy('0'), busy('86400'), busy('soon'), busy(null)], [1000, 100, 60_000, 10_000, 10_000])
  const limited = refusal(429, '{"error":"INSTORE_RATE_LIMITED"}', '60', 10_000)
  assert.equal(limited.waitMs, undefined)
  assert.match(limited.message, /failed authentications/)
  assert.equal(refusal(429, 'not json', '1', 10_000).waitMs, undefined)
  assert.equal(refusal(403, '{"error":"INSTORE_CONFIG_BUSY"}', '1', 10_000).waitMs, undefined)
})
