// The outside tester's part B: with an open-file limit of 256 (total cap 160), a few hundred
// connections each trickling a request body a byte a second took every place, each looking busy,
// and honest callers were reset until the request timeout answered 408. Now a body must keep a
// minimum pace, and at the cap the slowest body arriving makes room; a slow but working upload
// (256 KiB at 20 KiB/s, a gateway on poor 3G) still gets through. A real server process over TCP.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { buildServer } from '../../server/app.ts'
import { silentLogger } from '../../shared/log.ts'
import { ROOT } from '../helpers/run.ts'
import { waitFor } from '../helpers/gateway.ts'
import { stopChild } from '../helpers/procs.ts'

const REGISTER = JSON.stringify({ consent: { presence: false, marketing: false } })

/** The server under `ulimit -n 256`, as an operator would start it on a small box. */
async function startLimited() {
  const data = mkdtempSync(join(tmpdir(), 'slow-bodies-'))
  const cmd = `ulimit -n 256 && exec "${process.execPath}" bin/instore-server.mjs --port 0 --host 127.0.0.1 --data "${data}" --admin-token slow-bodies-admin-token-0123456789`
  const child = spawn('bash', ['-c', cmd], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', d => {
    out += d
  })
  child.stderr.on('data', d => {
    out += d
  })
  await waitFor(() => /"server started"/.test(out) || child.exitCode !== null, 60_000, 'the server to start')
  const url = (/"url":"(http:\/\/[0-9.:]+)"/.exec(out) as RegExpExecArray)[1] as string
  return { child, url, port: Number(new URL(url).port), out: () => out }
}

/**
 * A stranger holding `n` connections from 127.0.0.1, each trickling a body a byte a second; one
 * closed is opened again after `reopenMs` if given. A consent change of the one device it registered
 * (anyone may register): authenticated before the body, the server then waits for the body.
 */
async function trickle(port: number, n: number, reopenMs?: number) {
  const reg = await fetch(`http://127.0.0.1:${port}/v1/devices`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: REGISTER })
  const { deviceId, token } = (await reg.json()) as { deviceId: string; token: string }
  const stats = { timeouts: 0, closed: 0 }
  const sockets = new Set<Socket>()
  let running = true
  const open = () => {
    const s = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' })
    sockets.add(s)
    let reply = ''
    let timer: NodeJS.Timeout | undefined
    s.on('error', () => {})
    s.on('data', d => {
      reply += d
    })
    s.on('connect', () => {
      s.write(`PUT /v1/devices/${deviceId}/consent HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{`)
      timer = setInterval(() => s.write(' '), 1000)
    })
    s.on('close', () => {
      clearInterval(timer)
      sockets.delete(s)
      stats.closed++
      if (reply.startsWith('HTTP/1.1 408')) stats.timeouts++
      if (running && reopenMs !== undefined) setTimeout(open, reopenMs)
    })
  }
  for (let i = 0; i < n; i++) open()
  return {
    stats,
    held: () => sockets.size,
    stop() {
      running = false
      for (const s of sockets) s.destroy()
    }
  }
}

/** An honest caller from another address (127.0.0.2); the body is sent at `bytesPerSecond` when given. */
function honest(port: number, method: string, path: string, body?: string, bytesPerSecond?: number): Promise<{ status: number; body: string; ms: number }> {
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        localAddress: '127.0.0.2',
        agent: false,
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
      },
      res => {
        let text = ''
        res.on('data', d => {
          text += d
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, ms: performance.now() - t0 }))
      }
    )
    req.on('error', reject)
    if (body === undefined || bytesPerSecond === undefined) return void req.end(body)
    // 1 KiB chunks spaced to the pace, written only when the previous one left (a real slow link).
    const chunk = 1024
    let sent = 0
    const next = () => {
      if (sent >= body.length) return void req.end()
      req.write(body.slice(sent, sent + chunk), () => {
        sent += chunk
        const due = t0 + (sent / bytesPerSecond) * 1000
        setTimeout(next, Math.max(0, due - performance.now()))
      })
    }
    next()
  })
}

async function metrics(port: number): Promise<string> {
  return (await honest(port, 'GET', '/metrics')).body
}

const count = (text: string, reason: string) => Number(new RegExp(`^instore_server_connections_closed_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0)

test('300 trickled bodies under ulimit -n 256 do not lock out /healthz nor a registration; the trickles get 408, counted', { timeout: 90_000 }, async t => {
  const server = await startLimited()
  const attack = await trickle(server.port, 300, 1000)
  try {
    // The stranger has tried all 300 and holds as many as the cap lets it.
    // The stranger has tried all 300: those past the cap were closed on arrival.
    await waitFor(() => attack.stats.closed >= 100, 20_000, 'the trickles to fill the cap')
    await new Promise(r => setTimeout(r, 1000))
    const health = await honest(server.port, 'GET', '/healthz')
    assert.equal(health.status, 200)
    assert.ok(health.ms < 5000, `/healthz took ${health.ms} ms`)
    const reg = await honest(server.port, 'POST', '/v1/devices', REGISTER)
    assert.equal(reg.status, 201, reg.body)
    // Closed to make room, the trickles are answered 408.
    await waitFor(() => attack.stats.timeouts > 0, 15_000, 'a trickle answered 408')
    const m = await metrics(server.port)
    // The stranger's own reconnections close its slowest trickles to make room (none lives long enough to be closed by its pace here).
    assert.ok(count(m, 'slow_body_at_cap') + count(m, 'slow_body') >= 2, m)
    assert.equal(server.child.exitCode, null, server.out())
    t.diagnostic(
      `healthz ${Math.round(health.ms)} ms, registration ${Math.round(reg.ms)} ms; ${m
        .split('\n')
        .filter(l => l.startsWith('instore_server_connections_'))
        .join('; ')}`
    )
  } finally {
    attack.stop()
    await stopChild(server.child)
  }
})

test('a 256 KiB body at 20 KiB/s (a gateway on poor 3G) gets through while 300 trickles press on the cap', { timeout: 150_000 }, async t => {
  const server = await startLimited()
  const attack = await trickle(server.port, 300, 1000)
  try {
    await waitFor(() => attack.stats.closed >= 100, 20_000, 'the trickles to fill the cap')
    // A connection is not closed for another within its grace (DEFAULT_BODY_PACE.graceMs): the attack has begun a moment before.
    await new Promise(r => setTimeout(r, 1000))
    // JSON allows whitespace: an honest registration, padded to 256 KiB (over two pace windows; a 1 MiB
    // batch at this pace passes the same way, four times as long).
    const body = REGISTER.slice(0, -1) + ' '.repeat(2 ** 18 - REGISTER.length) + '}'
    const slow = await honest(server.port, 'POST', '/v1/devices', body, 20 * 1024)
    assert.equal(slow.status, 201, slow.body)
    assert.ok(slow.ms > 11_000, `sent in ${slow.ms} ms: not slow`)
    assert.ok(attack.stats.timeouts > 0)
    t.diagnostic(`256 KiB in ${Math.round(slow.ms)} ms; trickles answered 408: ${attack.stats.timeouts}`)
  } finally {
    attack.stop()
    await stopChild(server.child)
  }
})

test('below the minimum pace a body is answered 408 after a window, counted; a slow working one is not', { timeout: 60_000 }, async t => {
  const { app } = await buildServer({ dataDir: mkdtempSync(join(tmpdir(), 'slow-pace-')), log: silentLogger })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  try {
    const attack = await trickle(port, 1)
    // 2 KiB/s for 12 s: twice the default minimum, over two windows.
    const body = REGISTER.slice(0, -1) + ' '.repeat(24 * 1024) + '}'
    const slow = honest(port, 'POST', '/v1/devices', body, 2048)
    const t0 = performance.now()
    await waitFor(() => attack.stats.timeouts === 1, 20_000, 'the trickle answered 408')
    const after = performance.now() - t0
    attack.stop()
    assert.ok(after < 15_000, `408 after ${after} ms`)
    const done = await slow
    assert.equal(done.status, 201, done.body)
    assert.equal(count(await metrics(port), 'slow_body'), 1)
    t.diagnostic(`trickle answered 408 after ${Math.round(after)} ms; 24 KiB at 2 KiB/s: ${done.status} in ${Math.round(done.ms)} ms`)
  } finally {
    await app.close()
  }
})

test('a negative minimum pace stops the start with a usage error naming the option', async () => {
  const child = spawn(process.execPath, ['bin/instore-server.mjs', '--port', '0', '--data', mkdtempSync(join(tmpdir(), 'slow-usage-')), '--min-body-bytes-per-second', '-1'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let err = ''
  child.stderr.on('data', d => {
    err += d
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  assert.equal(code, 2)
  assert.match(err, /--min-body-bytes-per-second must be a number >= 0/)
})
