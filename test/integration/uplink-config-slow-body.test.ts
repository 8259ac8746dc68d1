// Outside tester (s10): a whole config of 100,000 devices took longer to build than the gateway's
// 10 s request timeout, which covered the whole pull: that gateway got its config a period late,
// or never. The timeout is now on progress: a reply that keeps arriving (the server streams a list
// it is building, with a space every second) is waited for; one that stops is given up. A real
// HTTP server trickles the body. No wall-clock bound in the tests: a short stall limit, a reply
// that outlasts it many times over, and the reason the pull was given up.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger, type Logger, silentLogger } from '../../shared/log.ts'
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

function uplink(url: string, extra: Partial<UplinkOptions>, onConfig: () => void, log: Logger = silentLogger): { up: Uplink; store: GatewayStore } {
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'uplink-slow-body-')))
  const up = new Uplink(
    { central: url, token: 'gw_token', storeId: 's1', batch: 500, minBackoffMs: 500, maxBackoffMs: 30_000, configEveryMs: 60_000, ...extra },
    store,
    log,
    onConfig
  )
  return { up, store }
}

// A stall limit of 500 ms and a space every 100 ms for 2 s: the reply outlasts the limit four times
// over, so only a timeout on progress (not on the whole pull) lets it through; the margin between
// 100 and 500 ms absorbs a loaded machine's late timers.
const STALL_MS = 500

test('a config reply that keeps arriving for longer than the stall timeout is waited for and applied', { timeout: 60_000 }, async () => {
  const SPACES = 20
  await withServer(
    res => {
      res.writeHead(200, { 'content-type': 'application/json', etag: '"v1"' })
      res.write(HEAD)
      let sent = 0
      const tick = setInterval(() => {
        if (res.destroyed) return clearInterval(tick)
        if (sent++ < SPACES) return void res.write(' ')
        clearInterval(tick)
        res.end(TAIL)
      }, 100)
    },
    async url => {
      let applied = 0
      const { up, store } = uplink(url, { configStallMs: STALL_MS }, () => {
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
      const lines: string[] = []
      const { up, store } = uplink(url, { configStallMs: 300 }, () => {}, createLogger({ level: 'debug', write: l => lines.push(l) }))
      up.start()
      try {
        await waitFor(() => up.configFailures.unreachable > 0, 20_000, 'the stalled pull given up')
        // Given up by the stall limit, not the limit on the whole pull (minutes) nor anything else.
        const failed = lines.map(l => JSON.parse(l) as { msg: string; err?: string }).find(l => l.msg === 'config pull failed')
        assert.equal(failed?.err, 'no progress for 300 ms')
      } finally {
        await up.stop(0)
        store.close()
      }
    }
  )
})
