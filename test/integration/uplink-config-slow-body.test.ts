// Outside tester (s10): a whole config of 100,000 devices took longer to build than the gateway's
// 10 s request timeout, which covered the whole pull: that gateway got its config a period late,
// or never. The timeout is now on progress: a reply that keeps arriving (the server streams a list
// it is building, with a space every second) is waited for; one that stops is given up. A real
// HTTP server trickles the body.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '../../shared/log.ts'
import { waitFor } from '../helpers/gateway.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { Uplink, type UplinkOptions } from '../../gateway/io/uplink.ts'

const HEAD = '{"storeId":"s1","version":"1","full":true,"devices":'
const TAIL = '[],"removed":[],"erasures":[]}'

async function withServer(answer: (res: ServerResponse) => void, run: (url: string) => Promise<void>): Promise<void> {
  const open = new Set<ServerResponse>()
  const server = createServer((req, res) => {
    if (!req.url?.includes('/config')) return void res.writeHead(404).end()
    open.add(res)
    res.on('close', () => open.delete(res))
    answer(res)
  })
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  } finally {
    for (const r of open) r.destroy()
    await new Promise(r => server.close(r))
  }
}

function uplink(url: string, extra: Partial<UplinkOptions>, onConfig: () => void): { up: Uplink; store: GatewayStore } {
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'uplink-slow-body-')))
  const up = new Uplink(
    { central: url, token: 'gw_token', storeId: 's1', batch: 500, minBackoffMs: 500, maxBackoffMs: 30_000, configEveryMs: 60_000, ...extra },
    store,
    silentLogger,
    onConfig
  )
  return { up, store }
}

test('a config reply that keeps arriving for longer than the stall timeout is waited for and applied', { timeout: 60_000 }, async () => {
  // 12 s of a space every 500 ms: longer than the old 10 s timeout on the whole pull.
  const TRICKLE_MS = 12_000
  await withServer(
    res => {
      res.writeHead(200, { 'content-type': 'application/json', etag: '"v1"' })
      res.write(HEAD)
      const started = Date.now()
      const tick = setInterval(() => {
        if (res.destroyed) return clearInterval(tick)
        if (Date.now() - started < TRICKLE_MS) return void res.write(' ')
        clearInterval(tick)
        res.end(TAIL)
      }, 500)
    },
    async url => {
      let applied = 0
      const { up, store } = uplink(url, {}, () => {
        applied++
      })
      up.start()
      try {
        await waitFor(() => applied === 1 || up.configFailures.unreachable > 0, 40_000, 'the config applied or the pull given up')
        assert.deepEqual([applied, up.configFailures], [1, { unreachable: 0, refused: 0, apply: 0 }])
      } finally {
        await up.stop(0)
        store.close()
      }
    }
  )
})

test('a config reply that stops arriving is given up after the stall timeout, counted as unreachable', { timeout: 60_000 }, async () => {
  await withServer(
    res => {
      res.writeHead(200, { 'content-type': 'application/json', etag: '"v1"' })
      res.write(HEAD)
    },
    async url => {
      const { up, store } = uplink(url, { configStallMs: 300 }, () => {})
      up.start()
      const t0 = Date.now()
      try {
        await waitFor(() => up.configFailures.unreachable > 0, 20_000, 'the stalled pull given up')
        assert.ok(Date.now() - t0 < 9_000, `given up after ${Date.now() - t0} ms`)
      } finally {
        await up.stop(0)
        store.close()
      }
    }
  )
})
