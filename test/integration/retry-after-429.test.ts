// Reviewer (s10): the server answers too many failed authentications from an address with 429
// INSTORE_RATE_LIMITED and a Retry-After (server/auth.ts), and each request meanwhile counts
// again. The gateway's events drain backed off on its own schedule (from 500 ms), its config pull
// by its own doubling, and the SDK's trigger stream reconnected after 1 s: all three came back
// before the time asked. Real HTTP servers answer 429 with a Retry-After, then 200; each client
// must wait the time asked (bounded: a hostile value cannot silence it for hours). No wall-clock
// bound: the waits the clients decide are seen through their injected timers, and each asked wait
// must have run out between the refused request and the next one (the order, not the time taken).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '../../shared/log.ts'
import { waitFor } from '../helpers/gateway.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { Uplink } from '../../gateway/io/uplink.ts'
import { retryAfterMs } from '../../gateway/io/config-trouble.ts'
import { InstoreClient, InstoreError } from '../../sdk/client.ts'

const LIMITED = JSON.stringify({ error: 'INSTORE_RATE_LIMITED', message: 'too many failed authentications; retry in 2 s' })

/**
 * A server whose first answer to each path kind is 429 with the Retry-After `asked[kind]` (seconds),
 * then `ok`; each request is written to `log` (`req <kind>`), where the clients' timers write too.
 */
async function limitedServer(log: string[], asked: Record<string, number>, ok: (kind: string, req: IncomingMessage, res: ServerResponse) => void) {
  const seen: Record<string, number> = {}
  const server = createServer((req, res) => {
    const kind = /\/(ack|events|config|live|triggers)$/.exec((req.url ?? '').split('?')[0])?.[1] ?? 'other'
    seen[kind] = (seen[kind] ?? 0) + 1
    log.push(`req ${kind}`)
    req.resume()
    if (seen[kind] === 1) return void res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(asked[kind] ?? 2) }).end(LIMITED)
    ok(kind, req, res)
  })
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise(r => server.close(r))
    }
  }
}

/** Between the first and second `req <kind>` in `log`, the timers that ran out (`done <ms>`). */
function waitedBetween(log: string[], kind: string): number[] {
  const first = log.indexOf(`req ${kind}`)
  const second = log.indexOf(`req ${kind}`, first + 1)
  assert.ok(first >= 0 && second > first, `two ${kind} requests in ${log.join(', ')}`)
  return log
    .slice(first, second)
    .filter(l => l.startsWith('done '))
    .map(l => Number(l.slice(5)))
}

test('the gateway waits the Retry-After of a rate-limited answer, for its events and its config pulls', { timeout: 60_000 }, async () => {
  const log: string[] = []
  // Two waits asked, told apart by their length: 2 s for the events, 3 s for the config.
  const s = await limitedServer(log, { events: 2, config: 3 }, (kind, _req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', etag: '"v1"' })
    res.end(
      kind === 'events' ? JSON.stringify({ accepted: 1, duplicates: 0 }) : JSON.stringify({ storeId: 's1', version: '1', full: true, devices: [], removed: [], erasures: [] })
    )
  })
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'retry-after-gw-')))
  store.addEvent('e1', 'shop.enter', 1, JSON.stringify({ id: 'e1', type: 'shop.enter' }))
  let applied = 0
  // Real timers that say which wait they were set for and when it ran out.
  const timers = {
    set: (fn: () => void, ms: number) =>
      setTimeout(() => {
        log.push(`done ${ms}`)
        fn()
      }, ms),
    clear: (t: unknown) => clearTimeout(t as NodeJS.Timeout)
  }
  // Backoffs far below the waits asked: the drain's first one is under 500 ms, the config's period 500 ms.
  const up = new Uplink(
    { central: s.url, token: 'gw_token', storeId: 's1', batch: 500, minBackoffMs: 500, maxBackoffMs: 30_000, configEveryMs: 500, random: () => 0.99, timers },
    store,
    silentLogger,
    () => {
      applied++
    }
  )
  up.start()
  try {
    await waitFor(() => store.backlog() === 0 && applied === 1, 20_000, 'the event delivered and the config applied after the wait')
    assert.ok(waitedBetween(log, 'events').includes(2000), `events posted again before the 2000 ms asked ran out: ${log.join(', ')}`)
    assert.ok(waitedBetween(log, 'config').includes(3000), `config pulled again before the 3000 ms asked ran out: ${log.join(', ')}`)
  } finally {
    await up.stop(0)
    store.close()
    await s.close()
  }
})

test("the SDK's trigger stream reconnects no sooner than a 429's Retry-After; a failed call carries it", { timeout: 60_000 }, async () => {
  const log: string[] = []
  const s = await limitedServer(log, { triggers: 2, ack: 2 }, (_kind, _req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(': connected\n\n')
  })
  const c = new InstoreClient({ baseUrl: s.url, deviceId: 'd1', token: 'dev_x' })
  const sleep = async (ms: number): Promise<void> => {
    await new Promise(r => setTimeout(r, ms))
    log.push(`done ${ms}`)
  }
  const sub = c.triggers(() => {}, { retryMs: 100, sleep })
  try {
    await waitFor(() => log.filter(l => l === 'req triggers').length === 2, 20_000, 'the stream opened again')
    assert.deepEqual(waitedBetween(log, 'triggers'), [2000], 'one wait, the one asked, not the 100 ms retry')
    const err = await c.ack({ triggerId: 't1', storeId: 's1' }, 'delivered').catch((e: unknown) => e)
    assert.ok(err instanceof InstoreError)
    assert.deepEqual([err.status, err.code, err.retryAfterMs], [429, 'INSTORE_RATE_LIMITED', 2000])
  } finally {
    sub.close()
    await s.close()
  }
})

test('a Retry-After is read in whole seconds and bounded', () => {
  assert.deepEqual(
    ['2', ' 0 ', '86400', 'soon', 'Wed, 21 Oct 2026 07:28:00 GMT', null].map(h => retryAfterMs(h, 300_000)),
    [2000, 100, 300_000, null, null, null]
  )
})
