// Defect 1 of the outside tester's s9 list, its second half: a client opening connections faster
// than the timeouts free them could still take every socket. One caller address (an IPv6 /64)
// holds at most `connectionsPerAddress`; one more is closed on arrival and counted; a reverse
// proxy named in trustProxy (many callers behind one address) is not capped.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from '../../server/app.ts'
import { silentLogger } from '../../shared/log.ts'
import { metric } from '../helpers/streams.ts'
import { TrustProxyError, trustedPeers } from '../../server/connection-cap.ts'

/** A connection that sends nothing; resolves once connected, with whether the server has closed it since. */
async function silent(port: number): Promise<{ socket: Socket; closed: () => boolean; closing: Promise<void> }> {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  let closed = false
  const closing = new Promise<void>(resolve =>
    socket.on('close', () => {
      closed = true
      resolve()
    })
  )
  await new Promise<void>(resolve => socket.once('connect', () => resolve()))
  return { socket, closed: () => closed, closing }
}

async function start(trustProxy?: string) {
  const dataDir = mkdtempSync(join(tmpdir(), 'conn-cap-'))
  const { app } = await buildServer({
    dataDir,
    log: silentLogger,
    adminToken: 'adm_conn_cap_1234567890abc',
    ...(trustProxy ? { trustProxy } : {}),
    limits: { connectionsPerAddress: 3 }
  })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url, port: Number(new URL(url).port) }
}

test('one address holds at most connectionsPerAddress connections; one more is closed on arrival and counted', async () => {
  const { app, url, port } = await start()
  const held: Array<Awaited<ReturnType<typeof silent>>> = []
  try {
    for (let i = 0; i < 3; i++) held.push(await silent(port))
    const fourth = await silent(port)
    await fourth.closing
    assert.deepEqual(
      held.map(h => h.closed()),
      [false, false, false]
    )
    // One given back makes room: /metrics itself is a connection from the same address.
    held.shift()?.socket.destroy()
    // Until the server has seen that close, the request is refused too (and counted).
    let refused = -1
    let failed = 0
    for (let i = 0; i < 100 && refused < 0; i++) {
      refused = await metric(url, 'instore_server_connections_refused_total{limit="address"}').catch(() => -1)
      if (refused < 0) {
        failed++
        await new Promise(r => setTimeout(r, 20))
      }
    }
    assert.equal(refused, 1 + failed)
  } finally {
    for (const h of held) h.socket.destroy()
    await app.close()
  }
})

test('a reverse proxy named in trustProxy is not capped', async () => {
  const { app, port } = await start('127.0.0.1')
  const held: Array<Awaited<ReturnType<typeof silent>>> = []
  try {
    for (let i = 0; i < 6; i++) held.push(await silent(port))
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`)
    assert.equal(ok.status, 200)
    assert.deepEqual(
      held.map(h => h.closed()),
      [false, false, false, false, false, false]
    )
  } finally {
    for (const h of held) h.socket.destroy()
    await app.close()
  }
})

test('trustedPeers reads what fastify trustProxy reads: addresses, CIDRs, netmasks, names, IPv4-mapped peers', () => {
  const trusted = trustedPeers('10.1.2.3, 192.168.0.0/16,loopback,2001:db8::/32, 172.16.0.0/255.240.0.0')
  for (const ip of ['10.1.2.3', '192.168.7.7', '127.0.0.5', '::1', '2001:db8:1::1', '172.31.255.1', '::ffff:127.0.0.1', '::ffff:10.1.2.3']) assert.equal(trusted(ip), true, ip)
  for (const ip of ['10.1.2.4', '2001:db9::1', '172.32.0.1', '::ffff:10.1.2.4']) assert.equal(trusted(ip), false, ip)
  // The re-tester's form: it stopped the server from starting (prefix NaN).
  assert.equal(trustedPeers('127.0.0.0/255.0.0.0')('127.9.9.9'), true)
  assert.equal(trustedPeers(undefined)('127.0.0.1'), false)
  for (const bad of ['bogus', '10.0.0.0/33', '10.0.0.0/255.0.255.0']) assert.throws(() => trustedPeers(bad), TrustProxyError, bad)
})
