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
