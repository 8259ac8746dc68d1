// Outside tester's defect 9: a central server (or whatever answers in its place) sending an endless
// 200 body made the gateway hold all of it (`res.text()` before the slice, `res.json()`). Every
// answer is now read up to a cap and the download stopped there: events replies (1 MiB kept),
// config (32 MiB at most, refused beyond), live snapshots (nothing in them is used).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { silentLogger } from '../../shared/log.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { MAX_CONFIG_BYTES, Uplink } from '../../gateway/io/uplink.ts'
import { waitFor } from '../helpers/gateway.ts'

/** Per path: bytes written before the gateway hung up, and whether it did. */
interface Seen {
  written: number
  closed: boolean
}

/** Answers `path` with a 200 whose JSON body never ends (stops writing after `stopAfter` bytes, never ending the response). */
async function endless(path: string, stopAfter: number): Promise<{ url: string; seen: Seen; close: () => void }> {
  const seen: Seen = { written: 0, closed: false }
  const server = createServer((req, res) => {
    req.resume()
    if (!(req.url ?? '').includes(path)) {
      res.writeHead(req.url?.includes('/events') ? 503 : 304)
      res.end()
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.on('close', () => {
      seen.closed = true
    })
    res.write('{"pad":"')
    const chunk = Buffer.alloc(64 * 1024, 0x61)
    const more = (): void => {
      while (seen.written < stopAfter && !seen.closed) {
        seen.written += chunk.length
        if (!res.write(chunk)) {
          res.once('drain', more)
          return
        }
      }
    }
    more()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const a = server.address()
  return {
    url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`,
    seen,
    close: () => {
      server.closeAllConnections()
      server.close()
    }
  }
}

const CASES = [
  { name: 'an events reply', path: '/events', cap: 2 ** 20 },
  { name: 'a config', path: '/config', cap: MAX_CONFIG_BYTES },
  { name: 'a live-snapshot answer', path: '/live', cap: 64 * 1024 }
]

for (const k of CASES) {
  test(`${k.name} that never ends is read up to its cap and the download stopped there`, async () => {
    // Writing stops well past the cap and the answer never ends: only the gateway can end it.
    const central = await endless(k.path, k.cap + 64 * 2 ** 20)
    const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'uplink-bodies-')))
    store.addEvent('e1', 'shop.enter', 1, JSON.stringify({ id: 'e1', type: 'shop.enter' }))
    const up = new Uplink(
      { central: central.url, token: 't', storeId: 's', batch: 100, minBackoffMs: 60_000, maxBackoffMs: 60_000, configEveryMs: 60_000, random: () => 0.5 },
      store,
      silentLogger,
      () => {}
    )
    up.liveSnapshot = () => ({ ts: 1 })
    try {
      up.start()
      // Well before the requests' own 10 s timeout, which is what ended the old unbounded reads.
      await waitFor(() => central.seen.closed, 8000, 'the gateway to hang up')
      assert.ok(central.seen.written < k.cap + 16 * 2 ** 20, `${central.seen.written} bytes sent before the gateway hung up`)
      await waitFor(() => up.oversizedReplies >= 1, 5000, 'the oversized answer counted')
      assert.equal(store.backlog(), 1, 'no delivery taken from an answer that is not the server’s')
    } finally {
      await up.stop(0)
      store.close()
      central.close()
    }
  })
}
