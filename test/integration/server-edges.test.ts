// Defects 9 and 10 of the outside tester's server list: unknown query parameters were accepted
// where docs/api.md says 400; requests Node's HTTP parser refuses (two Content-Lengths,
// Transfer-Encoding with Content-Length, a 20 KB header) were answered in fastify's format, with
// no house code and no security headers.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { api } from '../helpers/procs.ts'
import { startChain, registerDevice } from '../helpers/replicas.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'

test(`an unknown query parameter is a 400 on every route; the declared ones still work (${TEST_ENGINE})`, async () => {
  const chain = await startChain('edges-query', 1)
  try {
    const url = chain.replicas[0].url
    const dev = await registerDevice(url)
    const cases: Array<[string, string, number]> = [
      ['/v1/campaigns?x=1', chain.admin, 400],
      ['/v1/stores?x=1', chain.admin, 400],
      ['/v1/stores/s1/site?x=1', chain.admin, 400],
      ['/v1/tokens?role=admin&x=1', chain.admin, 400],
      ['/v1/stores/s1/config?x=1', chain.gw.s1, 400],
      ['/v1/campaigns', chain.admin, 200],
      ['/v1/stores', chain.admin, 200],
      ['/v1/stores/s1/site', chain.admin, 200],
      ['/v1/tokens?role=admin', chain.admin, 200],
      ['/v1/stores/s1/config', chain.gw.s1, 200]
    ]
    for (const [path, token, status] of cases) {
      const r = await api<{ error?: string }>(`${url}${path}`, token)
      assert.equal(r.status, status, path)
      if (status === 400) assert.equal(r.body?.error, 'INSTORE_BAD_REQUEST', path)
    }
    // The streams' declared parameters: where to resume; the live stream takes none.
    for (const path of [`/v1/devices/${dev.deviceId}/triggers?lastEventId=3`, '/v1/stores/s1/live']) {
      const ac = new AbortController()
      const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${path.includes('triggers') ? dev.token : chain.admin}` }, signal: ac.signal })
      assert.equal(res.status, 200, path)
      ac.abort()
    }
    const bad = await fetch(`${url}/v1/devices/${dev.deviceId}/triggers?since=3`, { headers: { authorization: `Bearer ${dev.token}` } })
    assert.equal(bad.status, 400)
  } finally {
    await chain.close()
  }
})

/** Sends raw bytes and returns what came back until the server closed the connection. */
function raw(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => s.end(request))
    let got = ''
    s.on('data', d => {
      got += d.toString('latin1')
    })
    s.on('close', () => resolve(got))
    s.on('error', err => (got ? resolve(got) : reject(err)))
  })
}

test(`requests Node's parser refuses get the house error format, code and security headers (${TEST_ENGINE})`, async () => {
  const chain = await startChain('edges-http', 1)
  try {
    const url = chain.replicas[0].url
    const body = '{"consent":{"presence":true,"marketing":false}}'
    const cases: Array<[string, string, number, string]> = [
      [
        'two Content-Lengths',
        `POST /v1/devices HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nContent-Length: 5\r\n\r\n${body}`,
        400,
        'INSTORE_BAD_HTTP'
      ],
      [
        'Transfer-Encoding with Content-Length',
        `POST /v1/devices HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: ${body.length}\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
        400,
        'INSTORE_BAD_HTTP'
      ],
      ['a 20 KB header', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'INSTORE_HEADERS_TOO_LARGE']
    ]
    for (const [name, request, status, code] of cases) {
      const reply = await raw(url, request)
      const [head, text] = reply.split('\r\n\r\n')
      assert.match(head, new RegExp(`^HTTP/1.1 ${status} `), name)
      assert.match(head, /^x-content-type-options: nosniff$/im, `${name}: helmet's headers`)
      assert.match(head, /^content-security-policy: /im, `${name}: helmet's headers`)
      const json = JSON.parse(text) as { error: string; message: string }
      assert.equal(json.error, code, name)
      assert.deepEqual(Object.keys(json).sort(), ['error', 'message'], name)
    }
    const metrics = await (await fetch(`${url}/metrics`)).text()
    assert.match(metrics, /^instore_server_refused_total\{reason="INSTORE_BAD_HTTP"\} 2$/m)
    assert.match(metrics, /^instore_server_refused_total\{reason="INSTORE_HEADERS_TOO_LARGE"\} 1$/m)
  } finally {
    await chain.close()
  }
})
