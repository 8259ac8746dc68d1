// The outside tester's defect 4 on the real server (live-slow-reader.mjs): live dashboard streams
// read over raw TCP up to their headers, then never again, while the store's gateway posted
// snapshots of 20,000 positions: the server kept every snapshot for every stream (RSS up by about
// a gigabyte). Now a dashboard behind is kept only the latest snapshot, what the server holds is
// bounded (instore_server_streams_buffered_bytes), and a stream whose socket stays full past
// `streamStallMs` is dropped, counted (instore_server_streams_dropped_total{reason="slow_reader"})
// and its place given back.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { api } from '../helpers/procs.ts'
import { waitFor } from '../helpers/gateway.ts'
import { startChain } from '../helpers/replicas.ts'
import { metric, openSse } from '../helpers/streams.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'

const health = async (url: string) => (await (await fetch(`${url}/healthz`)).json()) as { liveStreams: number }

/** A live stream read up to its headers, then never again. */
async function pausedLive(url: string, token: string): Promise<{ socket: net.Socket; head: string }> {
  const { port, hostname } = new URL(url)
  const socket = net.connect(Number(port), hostname)
  socket.on('error', () => {})
  const head = await new Promise<string>(resolve => {
    socket.once('connect', () => socket.write(`GET /v1/stores/s1/live HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\n\r\n`))
    socket.once('data', d => {
      socket.pause()
      resolve(d.toString())
    })
  })
  return { socket, head }
}

test(`a live stream that stops reading holds at most about two snapshots, then is dropped, counted, and its place given back (${TEST_ENGINE})`, async () => {
  const stallMs = 8000
  const chain = await startChain('live-slow', 1, undefined, { liveStreamsPerStore: 1, streamStallMs: stallMs, liveMinIntervalMs: 0 })
  const sockets: net.Socket[] = []
  try {
    const { url } = chain.replicas[0]
    const r = await pausedLive(url, chain.admin)
    sockets.push(r.socket)
    assert.match(r.head, /^HTTP\/1\.1 200/)
    const positions = Array.from({ length: 20_000 }, (_, i) => ({
      subject: `ble:p${i}`,
      ts: 1,
      x: i % 30,
      y: i % 20,
      floor: 0,
      accuracyM: 2,
      shop: 'boutique',
      sector: 'women',
      source: 'ble'
    }))
    let size = 0
    const post = async (ts: number) => {
      const snap = { ts, positions, occupancy: null }
      size = JSON.stringify(snap).length
      const p = await api(`${url}/v1/stores/s1/live`, chain.gw.s1, 'POST', snap)
      assert.equal(p.status, 204)
    }
    const held = () => metric(url, 'instore_server_streams_buffered_bytes')
    // Snapshots until the kernel's buffers are full and the server holds some of the stream.
    let ts = 1
    for (; ts < 60; ts++) {
      await post(ts)
      if ((await held()) > 0) break
    }
    assert.ok((await held()) > 0, 'the socket filled up')
    // More snapshots than the stream's queue allows: the dashboard is kept the latest, not dropped.
    for (let i = 0; i < 4; i++) await post(++ts)
    assert.ok((await held()) <= 2 * size + 64 * 1024, `held ${await held()} bytes; a snapshot is ${size}`)
    // Still behind after streamStallMs: dropped, counted, its place free for another dashboard.
    await waitFor(async () => (await metric(url, 'instore_server_streams_dropped_total{reason="slow_reader"}')) === 1, stallMs + 20_000, 'the stalled stream to be dropped')
    await waitFor(async () => (await health(url)).liveStreams === 0, 10_000, 'its place to be given back')
    assert.equal(await held(), 0)
    const next = await openSse(url, '/v1/stores/s1/live', chain.admin)
    assert.equal(next.status, 200)
    await waitFor(() => next.events.some(e => e.event === 'snapshot' && e.data.startsWith(`{"ts":${ts},`)), 10_000, 'the latest snapshot on a new stream')
    next.close()
  } finally {
    for (const s of sockets) s.destroy()
    await chain.close()
  }
})
