// The Meraki webhook port is open to the network unauthenticated (issue 26, hostile test): a
// stranger's post is refused on its first bytes, before it is read whole or parsed; bodies nested
// deeper than a JSON object of Meraki's needs are refused unparsed; the server bounds slow clients.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import type { Server } from 'node:http'
import { HTTP_LIMITS, jsonDepth, sameSecret, startHttp } from '../../gateway/io/http.ts'

let server: Server
let port: number
const posted: unknown[] = []
const refused: number[] = []

before(async () => {
  const h = await startHttp(0, '127.0.0.1', {
    health: () => ({ status: 'ok', problems: [] }),
    metrics: () => '',
    webhook: {
      path: '/meraki',
      validator: 'v',
      maxBytes: 4 * 2 ** 20,
      secret: 'right-secret',
      refused: s => refused.push(s),
      post(b) {
        posted.push(b)
        return { status: 202, text: 'accepted' }
      }
    }
  })
  server = h.server
  port = h.port
})
after(async () => {
  server.close()
})

async function post(body: string | Buffer): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path: '/meraki', method: 'POST' }, res => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    // The server may answer and close before the whole body is sent.
    req.on('error', err => {
      if (!/EPIPE|ECONNRESET/.test(err.message)) reject(err)
    })
    req.end(body)
  })
}

const nested = (n: number, secret: string): string => `{"version":"3.0","secret":"${secret}","data":${'['.repeat(n)}${']'.repeat(n)}}`

const CASES: Array<{ name: string; body: string; status: number; parsed: boolean }> = [
  { name: 'the right secret and a plain body', body: '{"version":"3.0","secret":"right-secret","type":"WiFi","data":{"observations":[]}}', status: 202, parsed: true },
  { name: 'a wrong secret with a 3 MiB nested body', body: nested(1_500_000, 'guess'), status: 403, parsed: false },
  { name: 'no secret at all', body: '{"version":"3.0","data":{}}', status: 403, parsed: false },
  { name: 'the right secret with a body nested 100 deep', body: nested(100, 'right-secret'), status: 400, parsed: false },
  { name: 'an escaped quote does not fake the secret', body: '{"secret":"right-secret\\"x","data":{}}', status: 403, parsed: false }
]

for (const c of CASES) {
  test(`Meraki webhook: ${c.name} → ${c.status}`, async () => {
    const n = posted.length
    assert.equal(await post(c.body), c.status)
    assert.equal(posted.length - n, c.parsed ? 1 : 0)
    if (c.status !== 202) assert.equal(refused[refused.length - 1], c.status)
  })
}

test('the webhook server bounds slow and many clients', () => {
  assert.equal(server.requestTimeout, HTTP_LIMITS.requestTimeoutMs)
  assert.equal(server.headersTimeout, HTTP_LIMITS.headersTimeoutMs)
  assert.equal(server.maxConnections, HTTP_LIMITS.maxConnections)
  assert.ok(HTTP_LIMITS.requestTimeoutMs > 0 && HTTP_LIMITS.headersTimeoutMs > 0 && HTTP_LIMITS.maxConnections > 0)
})

const DEPTHS: Array<[string, number]> = [
  ['{}', 1],
  ['{"a":[{"b":"[[[{"}]}', 3],
  ['"\\"[["', 0],
  ['[[[]]]', 3]
]
for (const [text, depth] of DEPTHS) {
  test(`jsonDepth(${text}) = ${depth}`, () => {
    assert.equal(jsonDepth(Buffer.from(text)), depth)
  })
}

test('secrets compare equal only when equal, whatever their lengths', () => {
  assert.equal(sameSecret('a', 'a'), true)
  assert.equal(sameSecret('a', 'ab'), false)
  assert.equal(sameSecret('', 'x'), false)
})
