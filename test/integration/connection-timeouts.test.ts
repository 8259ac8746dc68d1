// Defect 1 of the outside tester's s9 list: a connection that sent nothing, stopped inside its
// headers or trickled its body a byte at a time was never closed (fastify turns Node's request
// timeout off), so a stranger could hold every socket the process may open. Now headers, request
// and idle timeouts close them (408 INSTORE_TIMEOUT where a request was begun), and an open
// trigger stream, received in full, outlives them all.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from '../../server/app.ts'
import { silentLogger } from '../../shared/log.ts'
import { startChain, registerDevice } from '../helpers/replicas.ts'

const LIMITS = { headersTimeoutMs: 400, requestTimeoutMs: 800, idleTimeoutMs: 1200 }

interface Held {
  socket: Socket
  /** Resolves when the server closes the connection: what it answered and after how long. */
  closed: Promise<{ answer: string; ms: number }>
}

function hold(url: string, first = ''): Held {
  const { hostname, port } = new URL(url)
  const t0 = Date.now()
  const socket = connect(Number(port), hostname, () => {
    if (first) socket.write(first)
  })
  let answer = ''
  socket.on('data', d => {
    answer += d.toString('latin1')
  })
  socket.on('error', () => {})
  const closed = new Promise<{ answer: string; ms: number }>(resolve => socket.on('close', () => resolve({ answer, ms: Date.now() - t0 })))
  return { socket, closed }
}

/** The status line and the house error code of a raw answer. */
function parse(answer: string): { status: string; code: string | undefined } {
  const [head, body] = answer.split('\r\n\r\n')
  let code: string | undefined
  try {
    code = (JSON.parse(body ?? '') as { error?: string }).error
  } catch {}
  return { status: (head ?? '').split('\r\n')[0] ?? '', code }
}

test('silent, half-sent and trickled requests are closed with 408 INSTORE_TIMEOUT; a kept-alive idle connection is closed', { timeout: 30_000 }, async () => {
  const chain = await startChain('timeouts', 1, undefined, LIMITS)
  try {
    const url = chain.replicas[0].url
    const dev = await registerDevice(url)
    const silent = hold(url)
    const half = hold(url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n')
    const body = JSON.stringify({ presence: true, marketing: true })
    const trickled = hold(
      url,
      `PUT /v1/devices/${dev.deviceId}/consent HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${dev.token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`
    )
    let i = 0
    const drip = setInterval(() => {
      if (!trickled.socket.destroyed && i < body.length) trickled.socket.write(body[i++] as string)
    }, 100)
    const keptAlive = hold(url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
    try {
      for (const [name, h] of [
        ['silent', silent],
        ['half headers', half],
        ['trickled body', trickled]
      ] as const) {
        const { answer, ms } = await h.closed
        const { status, code } = parse(answer)
        assert.match(status, /^HTTP\/1.1 408 /, name)
        assert.equal(code, 'INSTORE_TIMEOUT', name)
        assert.ok(ms < 5000, `${name}: closed after ${ms} ms`)
      }
      const k = await keptAlive.closed
      assert.match(parse(k.answer).status, /^HTTP\/1.1 200 /)
      assert.ok(k.ms >= LIMITS.idleTimeoutMs - 100 && k.ms < 5000, `kept-alive connection closed after ${k.ms} ms`)
    } finally {
      clearInterval(drip)
    }
    const metrics = await (await fetch(`${url}/metrics`)).text()
    assert.match(metrics, /^instore_server_refused_total\{reason="INSTORE_TIMEOUT"\} 3$/m)
  } finally {
    await chain.close()
  }
})

test('a trigger stream outlives the headers, request and idle timeouts; a prompt request is served', { timeout: 30_000 }, async () => {
  const chain = await startChain('timeouts-sse', 1, undefined, LIMITS)
  try {
    const url = chain.replicas[0].url
    const dev = await registerDevice(url)
    const ac = new AbortController()
    const res = await fetch(`${url}/v1/devices/${dev.deviceId}/triggers`, { headers: { authorization: `Bearer ${dev.token}` }, signal: ac.signal })
    assert.equal(res.status, 200)
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    let ended = false
    const reading = (async () => {
      try {
        while (!(await reader.read()).done);
      } catch {}
      ended = true
    })()
    await new Promise(r => setTimeout(r, 3 * LIMITS.idleTimeoutMs))
    assert.equal(ended, false, 'the stream is still open')
    const ok = await fetch(`${url}/healthz`)
    assert.equal(ok.status, 200)
    ac.abort()
    await reading
  } finally {
    await chain.close()
  }
})

// The re-tester's lock wait: a handler working past the idle and request timeouts (a query waiting
// on a lock) had its socket destroyed at the idle timeout, an empty reply and nothing logged. The
// timeouts bound what the client sends and the wait between requests, never the server's work.
test('a handler working past the idle and request timeouts still answers', { timeout: 30_000 }, async () => {
  const { app } = await buildServer({ dataDir: mkdtempSync(join(tmpdir(), 'timeouts-slow-')), log: silentLogger, limits: LIMITS })
  app.get('/test-slow', async () => {
    await new Promise(r => setTimeout(r, 2 * LIMITS.idleTimeoutMs))
    return { ok: true }
  })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  try {
    const t0 = Date.now()
    const res = await fetch(`${url}/test-slow`)
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { ok: true })
    assert.ok(Date.now() - t0 >= 2 * LIMITS.idleTimeoutMs - 100)
  } finally {
    await app.close()
  }
})
