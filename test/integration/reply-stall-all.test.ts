// The outside tester's s13 item 1: a stranger whose sockets never read their replies held those
// connections for ever (a stalled reply is a busy connection: the total cap never closed it, and no
// timeout ended it), so past --max-connections every caller from another address was reset. Now
// every reply no byte of which is taken for limits.replyStallMs is cut, the total cap closes the
// longest-stalled reply to make room, and a connection piling up pipelined requests is closed.
// A real server and real sockets that do not read; counts, not timings.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildServer, type ServerLimits } from '../../server/app.ts'
import { silentLogger } from '../../shared/log.ts'
import { metric } from '../helpers/streams.ts'
import { MAX_PIPELINED } from '../../server/connection-cap.ts'

// More than the kernel buffers of both ends take (a send buffer grows to 4 MiB): the rest waits in Node.
const BIG = Buffer.alloc(12 * 1024 * 1024, 0x61)

async function serve(prefix: string, limits: Partial<ServerLimits>): Promise<{ app: FastifyInstance; url: string; port: number }> {
  const { app } = await buildServer({ dataDir: mkdtempSync(join(tmpdir(), `${prefix}-`)), log: silentLogger, limits })
  // A big anonymous reply, as GET /docs is on a small receive window.
  app.get('/test-big', { schema: { hide: true } }, async (_req, reply) => reply.type('application/octet-stream').send(BIG))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url, port: Number(new URL(url).port) }
}

/** A connection from `localAddress` that sends `requests` and never reads a byte of the replies. */
function unread(port: number, localAddress: string, requests: string): Promise<{ socket: Socket; closed: () => boolean }> {
  const socket = connect({ port, host: '127.0.0.1', localAddress })
  socket.pause()
  socket.on('error', () => {})
  let closed = false
  socket.on('close', () => {
    closed = true
  })
  return new Promise(resolve =>
    socket.once('connect', () => {
      socket.write(requests)
      resolve({ socket, closed: () => closed })
    })
  )
}

const until = async (ok: () => boolean | Promise<boolean>, ms: number) => {
  for (const end = Date.now() + ms; Date.now() < end && !(await ok()); ) await new Promise(r => setTimeout(r, 100))
}

/** A socket that reads nothing sees its connection closed only once it reads again: read, it ends short of the replies asked. */
async function closedWhenRead(s: { socket: Socket; closed: () => boolean }): Promise<void> {
  s.socket.resume()
  await until(s.closed, 5000)
  assert.ok(s.closed(), 'the connection is still open')
}

test('a reply nobody reads is cut after limits.replyStallMs, counted', { timeout: 30_000 }, async () => {
  const { app, url, port } = await serve('stall-all', { replyStallMs: 1000 })
  try {
    const s = await unread(port, '127.0.0.1', 'GET /test-big HTTP/1.1\r\nHost: x\r\n\r\n')
    const cut = () => metric(url, 'instore_server_connections_closed_total{reason="reply_stalled"}')
    await until(async () => (await cut()) > 0, 8000)
    assert.equal(await cut(), 1)
    await closedWhenRead(s)
  } finally {
    await app.close()
  }
})

test('past --max-connections, a stalled reply is closed to make room for a caller from another address', { timeout: 30_000 }, async () => {
  const { app, url, port } = await serve('stall-cap', { connectionsPerAddress: 10, maxConnections: 20, replyStallMs: 600_000 })
  const held: Array<{ socket: Socket; closed: () => boolean }> = []
  try {
    for (let i = 0; i < 20; i++) held.push(await unread(port, i % 2 === 0 ? '127.0.0.10' : '127.0.0.11', 'GET /test-big HTTP/1.1\r\nHost: x\r\n\r\n'))
    // Stalled past the grace (500 ms): their kernel buffers full, the rest of each reply waiting in Node.
    await new Promise(r => setTimeout(r, 2000))
    assert.equal(held.filter(h => !h.closed()).length, 20)
    const res = await fetch(`${url}/healthz`)
    assert.equal(res.status, 200)
    assert.ok((await metric(url, 'instore_server_connections_closed_total{reason="stalled_reply_at_cap"}')) >= 1)
  } finally {
    for (const h of held) h.socket.destroy()
    await app.close()
  }
})

test('a connection that pipelines more requests than it reads replies is closed, counted', { timeout: 30_000 }, async () => {
  const { app, url, port } = await serve('stall-pipe', {})
  try {
    assert.ok(MAX_PIPELINED < 64)
    const s = await unread(port, '127.0.0.1', 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(64))
    const cut = () => metric(url, 'instore_server_connections_closed_total{reason="pipelined"}')
    await until(async () => (await cut()) > 0, 5000)
    assert.equal(await cut(), 1)
    await closedWhenRead(s)
  } finally {
    await app.close()
  }
})
