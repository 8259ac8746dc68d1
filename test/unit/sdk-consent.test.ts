// withdrawConsent() withdraws marketing and keeps presence as the shopper chose (repro, outside
// tester 2026-12-07: it sent presence false too, and the device left every gateway's config).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { InstoreClient } from '../../sdk/client.ts'

/** A fetch that records each call's method, path and body and answers as the server would. */
function recording(): { calls: string[]; fetch: typeof fetch } {
  const calls: string[] = []
  const f = async (url: string | URL | Request, init?: RequestInit) => {
    const path = new URL(String(url)).pathname
    calls.push(`${init?.method ?? 'GET'} ${path} ${typeof init?.body === 'string' ? init.body : ''}`.trim())
    if (path === '/v1/devices') return Response.json({ deviceId: 'd1', token: 'tok', subject: 'app:0123456789abcdef', eid: { key: '00'.repeat(16), k: 8 } }, { status: 201 })
    return Response.json({})
  }
  return { calls, fetch: f as typeof fetch }
}

const cases: Array<{ name: string; run: (c: InstoreClient) => Promise<void>; sent: string }> = [
  { name: 'after register() with presence', run: async c => void (await c.register({ presence: true, marketing: true })), sent: '{"presence":true,"marketing":false}' },
  { name: 'after register() without presence', run: async c => void (await c.register({ presence: false, marketing: true })), sent: '{"presence":false,"marketing":false}' },
  {
    name: 'after setConsent() granted presence',
    run: async c => {
      await c.register({ presence: false, marketing: false })
      await c.setConsent({ presence: true, marketing: true })
    },
    sent: '{"presence":true,"marketing":false}'
  },
  // A consent this client cannot vouch for is never kept.
  { name: 'restored without its consent', run: async c => void Object.assign(c, { deviceId: 'd1', token: 'tok' }), sent: '{"presence":false,"marketing":false}' }
]

for (const c of cases) {
  test(`withdrawConsent() ${c.name} sends ${c.sent}`, async () => {
    const r = recording()
    const client = new InstoreClient({ baseUrl: 'http://127.0.0.1:9', fetch: r.fetch })
    await c.run(client)
    await client.withdrawConsent()
    assert.equal(r.calls.at(-1), `PUT /v1/devices/d1/consent ${c.sent}`)
    assert.deepEqual(client.consent, JSON.parse(c.sent))
  })
}

test('a client restored through its options keeps the consent given', async () => {
  const r = recording()
  const client = new InstoreClient({ baseUrl: 'http://127.0.0.1:9', fetch: r.fetch, deviceId: 'd1', token: 'tok', consent: { presence: true, marketing: true } })
  await client.withdrawConsent()
  assert.equal(r.calls.at(-1), 'PUT /v1/devices/d1/consent {"presence":true,"marketing":false}')
  await client.erase()
  assert.equal(client.consent, null)
})

// Reviewer's repro: a withdrawal while the shopper's own change was on its way (or after its reply
// was lost) sent the presence the client remembered from before, re-granting what was withdrawn.
test('withdrawConsent() after a change still on its way, or whose reply was lost, never re-grants presence', async () => {
  for (const lost of [false, true]) {
    const bodies: string[] = []
    let release = () => {}
    const f = async (url: string | URL | Request, init?: RequestInit) => {
      const path = new URL(String(url)).pathname
      if (path === '/v1/devices') return Response.json({ deviceId: 'd1', token: 'tok', subject: 'app:0123456789abcdef', eid: { key: '00'.repeat(16), k: 8 } }, { status: 201 })
      bodies.push(String(init?.body))
      if (bodies.length === 1) {
        // The server applies the change at once; its reply comes late, or never.
        await new Promise<void>(r => {
          release = r
        })
        if (lost) throw new TypeError('fetch failed')
      }
      return Response.json({})
    }
    const client = new InstoreClient({ baseUrl: 'http://127.0.0.1:9', fetch: f as typeof fetch })
    await client.register({ presence: true, marketing: true })
    const change = client.setConsent({ presence: false, marketing: true })
    const withdrawal = client.withdrawConsent()
    await new Promise(r => setTimeout(r, 20))
    release()
    await (lost ? assert.rejects(change) : change)
    await withdrawal
    assert.deepEqual(bodies, ['{"presence":false,"marketing":true}', '{"presence":false,"marketing":false}'], lost ? 'reply lost' : 'reply late')
    assert.deepEqual(client.consent, { presence: false, marketing: false })
  }
})
