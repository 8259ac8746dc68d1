// brokerAuth.replace (the auth file reloaded on SIGHUP): what a new file takes away takes effect on
// connected clients too, a login checked against a replaced hash is refused, and a socket that
// closed during its password check leaves nothing behind.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import type { Client } from 'aedes'
import { brokerAuth, hashPassword, type AuthCounters, type AuthFile } from '../../gateway/io/broker-auth.ts'

const h = hashPassword('password1')
const counters = (): AuthCounters => ({ failedLogins: 0, rateLimited: 0, deniedPublish: 0, deniedSubscribe: 0 })
const setup = (file: AuthFile) => brokerAuth(file, { prefix: 'instore', storeId: 's', aliases: new Map() }, counters())
let n = 0
const client = (extra: Record<string, unknown> = {}) => {
  const c = { id: `c${++n}`, clean: true, conn: Object.assign(new EventEmitter(), { remoteAddress: `10.0.0.${n}` }, extra), closed: false, close: () => void (c.closed = true) }
  return c
}
const login = async (a: ReturnType<typeof setup>, c: ReturnType<typeof client>, user: string, pw = 'password1') =>
  await new Promise<boolean>(resolve => a.authenticate?.(c as unknown as Client, user, Buffer.from(pw), (_e, ok) => resolve(ok === true)))

test('a login whose hash a reload replaced during its check is refused; the same hash kept lets it in', async () => {
  const a = setup({ sensors: { b1: h } })
  const c = client()
  const p = login(a, c, 'b1')
  a.replace({ sensors: { b1: hashPassword('another-one') } })
  assert.equal(await p, false)
  const b = setup({ sensors: { b2: h } })
  const q = login(b, client(), 'b2')
  b.replace({ sensors: { b2: h } })
  assert.equal(await q, true)
})

test('a sensor moved to the readers with the same hash is disconnected and may no longer publish readings', async () => {
  const a = setup({ sensors: { b1: h } })
  const c = client()
  assert.equal(await login(a, c, 'b1'), true)
  assert.equal(a.replace({ readers: { b1: h } }), 1)
  assert.equal(c.closed, true)
  const err = await new Promise(resolve => a.authorizePublish?.(c as unknown as Client, { topic: 'instore/s/sensors/b1/readings' } as never, e => resolve(e ?? null)))
  assert.notEqual(err, null)
})

test('a narrowed firmware entry disconnects the sensor; an unchanged file disconnects nobody', async () => {
  const a = setup({ sensors: { b1: h, b2: h }, firmware: { b1: 'espresense' } })
  const c1 = client()
  const c2 = client()
  assert.equal(await login(a, c1, 'b1'), true)
  assert.equal(await login(a, c2, 'b2'), true)
  assert.equal(a.replace({ sensors: { b1: h, b2: h }, firmware: { b1: 'espresense' } }), 0)
  assert.equal(a.replace({ sensors: { b1: h, b2: h } }), 1)
  assert.deepEqual([c1.closed, c2.closed], [true, false])
})

test('a socket closed during its password check is refused and never counted as connected', async () => {
  const a = setup({ phones: { 'phone:d1': h } })
  const gone = client({ destroyed: true })
  assert.equal(await login(a, gone, 'phone:d1'), false)
  const closed = client()
  closed.closed = true
  assert.equal(await login(a, closed, 'phone:d1'), false)
  // Revoking the phone finds no one to disconnect: nothing of those logins was kept.
  assert.equal(a.replace({}), 0)
})
