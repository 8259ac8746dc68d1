// close() ends a trigger stream's wait before its next attempt (re-tester's repro: a 503 asking
// Retry-After 300 s kept the app's process alive five minutes after close()).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { InstoreClient } from '../../sdk/client.ts'

const timers = () => process.getActiveResourcesInfo().filter(r => r === 'Timeout').length

test('close() during a Retry-After wait leaves no timer behind', async () => {
  const before = timers()
  let calls = 0
  const f = async () => {
    calls++
    return new Response('{"error":"INSTORE_STREAMS_FULL"}', { status: 503, headers: { 'retry-after': '300' } })
  }
  const client = new InstoreClient({ baseUrl: 'http://central.invalid', deviceId: 'd1', token: 't', fetch: f as typeof fetch })
  let failed = 0
  const sub = client.triggers(() => {}, { onError: () => void failed++ })
  while (failed === 0) await new Promise(r => setImmediate(r))
  await new Promise(r => setImmediate(r))
  assert.equal(timers(), before + 1, 'waiting out the Retry-After')
  sub.close()
  await new Promise(r => setImmediate(r))
  assert.equal(timers(), before, 'no wait left after close()')
  assert.equal(calls, 1)
})
