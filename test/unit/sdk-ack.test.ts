// ack() needs a registered device like every other device call (repro: before register() or after
// erase() it sent the request without a token).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { InstoreClient, InstoreError } from '../../sdk/client.ts'

function recording(): { calls: string[]; fetch: typeof fetch } {
  const calls: string[] = []
  const f = async (url: string | URL | Request, init?: RequestInit) => {
    calls.push(`${init?.method ?? 'GET'} ${String(url)}${typeof init?.body === 'string' ? ` ${init.body}` : ''}`)
    return new Response(null, { status: 204 })
  }
  return { calls, fetch: f as typeof fetch }
}

const cases: Array<{ name: string; setup: (c: InstoreClient) => Promise<void>; calls: number }> = [
  { name: 'before register()', setup: async () => {}, calls: 0 },
  { name: 'after erase()', setup: async c => await c.erase(), calls: 1 }
]

for (const c of cases) {
  test(`ack() ${c.name} is NOT_REGISTERED and sends nothing`, async () => {
    const r = recording()
    const client = new InstoreClient({ baseUrl: 'http://127.0.0.1:9', fetch: r.fetch, ...(c.calls > 0 ? { deviceId: 'd1', token: 'tok' } : {}) })
    await c.setup(client)
    await assert.rejects(client.ack('t1', 'delivered'), (e: unknown) => e instanceof InstoreError && e.code === 'NOT_REGISTERED')
    assert.equal(r.calls.length, c.calls, r.calls.join('; '))
  })
}

// An id alone is ambiguous on the server once two stores sent the device a trigger of that id
// (409 INSTORE_AMBIGUOUS_TRIGGER): the Trigger received carries its store, and ack() sends it.
test('ack() of a received Trigger sends its storeId; of an id, the storeId given', async () => {
  const r = recording()
  const client = new InstoreClient({ baseUrl: 'http://127.0.0.1:9', fetch: r.fetch, deviceId: 'd1', token: 'tok' })
  await client.ack({ triggerId: 't 1', storeId: 's1' }, 'delivered')
  await client.ack('t2', 'opened', 's2')
  await client.ack('t3', 'opened')
  assert.deepEqual(r.calls, [
    'POST http://127.0.0.1:9/v1/triggers/t%201/ack {"status":"delivered","storeId":"s1"}',
    'POST http://127.0.0.1:9/v1/triggers/t2/ack {"status":"opened","storeId":"s2"}',
    'POST http://127.0.0.1:9/v1/triggers/t3/ack {"status":"opened"}'
  ])
})
