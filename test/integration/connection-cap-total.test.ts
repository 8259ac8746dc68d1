// The re-tester's 01c: a stranger on a few addresses (each under --connections-per-address) still
// held every file the process may open, and an honest client from another address was reset. Now
// every address together is capped too (--max-connections, by default a share of the open-file
// limit): past it the oldest connection answering nothing is closed to make room, and counted.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from '../../server/app.ts'
import { silentLogger } from '../../shared/log.ts'
import { metric } from '../helpers/streams.ts'
import { DEFAULT_BODY_PACE, defaultMaxConnections } from '../../server/connection-cap.ts'

function silent(port: number, localAddress: string): Promise<{ socket: Socket; closed: () => boolean }> {
  const socket = connect({ port, host: '127.0.0.1', localAddress })
  socket.on('error', () => {})
  let closed = false
  socket.on('close', () => {
    closed = true
  })
  return new Promise(resolve => socket.once('connect', () => resolve({ socket, closed: () => closed })))
}

test('strangers on several addresses cannot take every connection: the oldest silent ones make room, counted', { timeout: 30_000 }, async () => {
  const { app } = await buildServer({ dataDir: mkdtempSync(join(tmpdir(), 'conn-total-')), log: silentLogger, limits: { connectionsPerAddress: 10, maxConnections: 20 } })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const port = Number(new URL(url).port)
  const held: Array<{ socket: Socket; closed: () => boolean }> = []
  try {
    for (let i = 0; i < 30; i++) held.push(await silent(port, ['127.0.0.1', '127.0.0.3', '127.0.0.4'][i % 3] as string))
    // Past the grace a connection silent since it opened gets (DEFAULT_BODY_PACE.graceMs).
    await new Promise(r => setTimeout(r, DEFAULT_BODY_PACE.graceMs + 100))
    const open = held.filter(h => !h.closed()).length
    assert.ok(open <= 20, `${open} silent connections open, cap 20`)
    // The honest client from another address is served (its connection closes an old silent one).
    const res = await fetch(`${url}/healthz`)
    assert.equal(res.status, 200)
    assert.ok((await metric(url, 'instore_server_connections_refused_total{limit="total"}')) >= 10)
  } finally {
    for (const h of held) h.socket.destroy()
    await app.close()
  }
})

test('the default total cap leaves room under the open-file limit', () => {
  assert.equal(defaultMaxConnections(256), 160)
  assert.equal(defaultMaxConnections(1024), 736)
  assert.equal(defaultMaxConnections(40), 32)
})
