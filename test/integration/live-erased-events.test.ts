// Defect 5 of the s8 outside tester's server list: after an erasure, a live dashboard stream that
// had fallen behind still wrote the erased shopper's relayed events, queued before the erasure. The
// erasure now drops, from every stream's queue, the events that name the shopper.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import net from 'node:net'
import { api } from '../helpers/procs.ts'
import { waitFor } from '../helpers/gateway.ts'
import { startChain, registerDevice } from '../helpers/replicas.ts'
import { metric } from '../helpers/streams.ts'
import { TEST_ENGINE } from '../helpers/postgres.ts'

let n = 0
const ev = (subject: string, over: Record<string, unknown> = {}) => ({
  id: `LE${++n}`,
  type: 'sector.enter',
  storeId: 's1',
  subject,
  visitId: `v${n}`,
  seq: n,
  ts: Date.now() - 1000,
  shop: 'boutique',
  sector: 'women',
  ...over
})

test(`an erasure drops the shopper's events queued for a dashboard that is behind (${TEST_ENGINE})`, async () => {
  // Snapshots back to back: the live gate's pause after each (live-gate.ts) off.
  const chain = await startChain('live-erased', 1, undefined, { liveMinIntervalMs: 0 })
  const { url } = chain.replicas[0]
  const { port, hostname } = new URL(url)
  let socket: net.Socket | null = null
  try {
    const d = await registerDevice(url)
    const sock = net.connect(Number(port), hostname)
    socket = sock
    sock.on('error', () => {})
    let read = ''
    // A dashboard that reads its headers, then nothing until told.
    await new Promise<void>(resolve => {
      sock.once('connect', () => sock.write(`GET /v1/stores/s1/live HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${chain.admin}\r\n\r\n`))
      sock.once('data', d => {
        read += d.toString()
        sock.pause()
        resolve()
      })
    })
    const post = async (events: unknown[]) => assert.equal((await api(`${url}/v1/stores/s1/events`, chain.gw.s1, 'POST', { events })).status, 200)
    const held = () => metric(url, 'instore_server_streams_buffered_bytes')
    // Large snapshots of other shoppers until the socket is full and the server queues.
    const positions = Array.from({ length: 20_000 }, (_, i) => ({
      subject: `ble:p${i}`,
      ts: 1,
      x: 1,
      y: 1,
      floor: 0,
      accuracyM: 2,
      shop: 'boutique',
      sector: 'women',
      source: 'ble'
    }))
    for (let ts = 1; ts < 60 && (await held()) <= 0; ts++)
      assert.equal((await api(`${url}/v1/stores/s1/live`, chain.gw.s1, 'POST', { ts, positions, occupancy: null })).status, 204)
    assert.ok((await held()) > 0, `the stream is behind: ${read.slice(0, 300)}`)
    await post([ev('ble:eeeeeeeeeeee')])
    await post([ev(d.subject)])
    assert.equal((await api(`${url}/v1/devices/${d.deviceId}`, d.token, 'DELETE')).status, 204)
    // A last event after the erasure: once it is read, everything queued before it was.
    const marker = ev('ble:ffffffffffff')
    await post([marker])
    sock.on('data', c => {
      read += c.toString()
    })
    sock.resume()
    await waitFor(async () => read.includes(marker.id), 30_000, 'the stream to be read to its end')
    assert.ok(!read.includes(d.subject), 'nothing about the erased shopper written after the erasure')
  } finally {
    socket?.destroy()
    await chain.close()
  }
})
