// The outside tester's defect 4: a live dashboard stream whose client stopped reading made the
// server keep every snapshot sent to it (8 paused streams, 40 snapshots of 20,000 positions: RSS
// grew by about a gigabyte, kept after the sockets closed), as sse.ts wrote ignoring
// backpressure; trigger streams shared it. Now an unread stream queues a bounded number of bytes
// beyond its socket's buffer, a replaceable event (the dashboard's snapshot) keeps only its
// latest, and a stream that overflows its queue or stays full too long is destroyed and counted.
// These tests hold the server's side with a raw TCP reader that reads the headers, then pauses.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import { configureStreams, openEventStream, streamMetrics, type EventStream } from '../../server/hubs/sse.ts'
import { waitFor } from '../helpers/gateway.ts'

interface Server {
  app: FastifyInstance
  port: number
  streams: EventStream[]
  closed: () => number
}

async function serve(queueBytes: number, stallMs: number, latestOnly: string[] = []): Promise<Server> {
  const app = Fastify({ logger: false, forceCloseConnections: true })
  configureStreams(app, { streamQueueBytes: queueBytes, streamStallMs: stallMs })
  const streams: EventStream[] = []
  let closed = 0
  app.get('/s', (req, reply) => {
    streams.push(
      openEventStream(
        req,
        reply,
        () => {
          closed++
        },
        latestOnly
      )
    )
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as net.AddressInfo).port
  return { app, port, streams, closed: () => closed }
}

/** A client that reads the response's headers and then stops reading; `resume` reads on, keeping the text. */
async function pausedReader(port: number): Promise<{ socket: net.Socket; text: () => string; ended: () => boolean; resume(): void }> {
  const socket = net.connect(port, '127.0.0.1')
  let text = ''
  let ended = false
  socket.on('close', () => {
    ended = true
  })
  socket.on('error', () => {})
  await new Promise<void>(resolve => {
    socket.once('connect', () => socket.write('GET /s HTTP/1.1\r\nhost: x\r\n\r\n'))
    socket.once('data', d => {
      text += d.toString()
      socket.pause()
      resolve()
    })
  })
  return {
    socket,
    text: () => text,
    ended: () => ended,
    resume: () => {
      socket.on('data', d => {
        text += d.toString()
      })
      socket.resume()
    }
  }
}

const gauge = (app: FastifyInstance) => Number(/^instore_server_streams_buffered_bytes (\d+)$/m.exec(streamMetrics(app).join('\n'))?.[1])
const dropped = (app: FastifyInstance) => Number(/^instore_server_streams_dropped_total\{reason="slow_reader"\} (\d+)$/m.exec(streamMetrics(app).join('\n'))?.[1])

/**
 * Sends non-replaceable events until the client's socket is full (the kernel's buffers take many
 * megabytes first): the server still holds bytes of the stream after a pause.
 */
async function fillUp(s: Server): Promise<void> {
  for (let round = 0; round < 100; round++) {
    for (let i = 0; i < 64; i++) s.streams[0]?.send('trigger', CHUNK)
    await new Promise(r => setTimeout(r, 100))
    if (gauge(s.app) > 0) return
  }
  assert.fail('the socket never filled up')
}

const CHUNK = 'x'.repeat(64 * 1024)

test('an unread stream queues at most its bound: past it the stream is destroyed, counted, and its close runs', async () => {
  const bound = 256 * 1024
  const s = await serve(bound, 60_000)
  try {
    const r = await pausedReader(s.port)
    await waitFor(() => s.streams.length === 1, 5000, 'the stream')
    // Far more than the kernel's buffers and the bound, none of it read: the stream is dropped, not grown.
    let most = 0
    for (let i = 0; i < 4000 && s.closed() === 0; i++) {
      s.streams[0]?.send('trigger', CHUNK)
      most = Math.max(most, gauge(s.app))
      if (i % 32 === 0) await new Promise(r => setImmediate(r))
    }
    await waitFor(() => s.closed() === 1, 5000, 'the stream to be dropped')
    assert.ok(most <= bound + 2 * CHUNK.length + 1024, `held at most ${most} bytes`)
    assert.equal(dropped(s.app), 1)
    assert.equal(gauge(s.app), 0, 'nothing held once it is gone')
    // Sending on a dropped stream is a no-op, not a throw.
    s.streams[0]?.send('trigger', 'late')
    r.resume()
    await waitFor(() => r.ended(), 10_000, 'the client to see the connection end')
  } finally {
    await s.app.close()
  }
})

test('a replaceable event keeps only its latest while the client is behind; the reader that resumes gets the latest', async () => {
  const s = await serve(64 * 1024 * 1024, 60_000, ['snapshot'])
  try {
    const r = await pausedReader(s.port)
    await waitFor(() => s.streams.length === 1, 5000, 'the stream')
    await fillUp(s)
    const before = gauge(s.app)
    // 32 MiB more of snapshots: the server keeps one of them, and the stream stays open.
    for (let i = 0; i < 512; i++) s.streams[0]?.send('snapshot', `latest-${i} ${CHUNK}`)
    assert.ok(gauge(s.app) <= before + CHUNK.length + 64, `held ${gauge(s.app)} bytes, at most one snapshot more than ${before}`)
    assert.equal(s.closed(), 0)
    assert.equal(dropped(s.app), 0)
    r.resume()
    await waitFor(() => r.text().includes('latest-511 '), 10_000, 'the latest snapshot')
    assert.ok(!r.text().includes('latest-510 '), 'a superseded snapshot is not sent')
    await waitFor(() => gauge(s.app) === 0, 5000, 'the stream to catch up')
  } finally {
    await s.app.close()
  }
})

test('a stream whose socket stays full past the stall time is dropped', async () => {
  const s = await serve(64 * 1024 * 1024, 500, ['snapshot'])
  try {
    const r = await pausedReader(s.port)
    await waitFor(() => s.streams.length === 1, 5000, 'the stream')
    await fillUp(s)
    await waitFor(() => s.closed() === 1, 5000, 'the stalled stream to be dropped')
    assert.equal(dropped(s.app), 1)
    assert.equal(gauge(s.app), 0)
    r.resume()
    await waitFor(() => r.ended(), 10_000, 'the client to see the connection end')
  } finally {
    await s.app.close()
  }
})

// The s7 reviewer: a stream ended from the server's side (its token revoked) while behind was still
// counted as a slow reader when its stall timer fired; and a queued snapshot showing a subject whose
// presence was withdrawn since could still be written: the live hub now has it discarded.
test('a stream ended while behind is destroyed by its stall timer without counting a slow reader', async () => {
  const s = await serve(64 * 1024 * 1024, 500)
  try {
    await pausedReader(s.port)
    await waitFor(() => s.streams.length === 1, 5000, 'the stream')
    await fillUp(s)
    s.streams[0]?.close()
    await waitFor(() => s.closed() === 1, 5000, 'the ended stream to go')
    assert.equal(dropped(s.app), 0)
  } finally {
    await s.app.close()
  }
})

test('a discarded snapshot queued behind a full socket is never written; what follows is', async () => {
  const s = await serve(64 * 1024 * 1024, 60_000, ['snapshot'])
  try {
    const r = await pausedReader(s.port)
    await waitFor(() => s.streams.length === 1, 5000, 'the stream')
    await fillUp(s)
    s.streams[0]?.send('snapshot', 'withdrawn-subject')
    s.streams[0]?.discard('snapshot')
    s.streams[0]?.send('trigger', 'after-it')
    r.resume()
    await waitFor(() => r.text().includes('after-it'), 10_000, 'the event after it')
    assert.ok(!r.text().includes('withdrawn-subject'))
  } finally {
    await s.app.close()
  }
})
