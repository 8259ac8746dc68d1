// The outside tester's s11 item 2: one gateway token posting large live snapshots in loops stalled
// /healthz and every other store's uplink (no per-store gate on POST /v1/stores/{id}/live). Now a
// store's snapshot in flight, or one taken under LIVE_MIN_INTERVAL_MS ago, makes the next one
// refused (429 INSTORE_LIVE_BUSY, Retry-After) before its body is read; other stores are not held.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { api } from '../helpers/procs.ts'
import { startChain } from '../helpers/replicas.ts'
import { metric } from '../helpers/streams.ts'
import { COST_FACTOR, LIVE_MIN_INTERVAL_MS, LiveGate } from '../../server/routes/live-gate.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'

const snap = () => ({ ts: Date.now(), positions: [], occupancy: { ts: Date.now(), shops: { boutique: 1 }, sectors: {}, passersBy: 0 } })

/** Sends a POST's headers announcing `length` bytes and none of its body; the status it gets and its Retry-After. */
function headersOnly(url: string, path: string, token: string, length: number): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': String(length) } },
      res => {
        res.resume()
        resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined })
        req.destroy()
      }
    )
    req.on('error', reject)
    req.flushHeaders()
  })
}

test(`a store's live snapshots are taken one at a time and at most every LIVE_MIN_INTERVAL_MS; other stores are not held (${TEST_ENGINE})`, async () => {
  // An interval no loaded test machine outlasts between two requests: the refusals below are not a race.
  const chain = await startChain('live-gate', 1, undefined, { liveMinIntervalMs: 60_000 })
  try {
    const { url } = chain.replicas[0]
    const post = (store: 's1' | 's2') => api<{ error?: string }>(`${url}/v1/stores/${store}/live`, chain.gw[store], 'POST', snap())
    assert.equal((await post('s1')).status, 204)
    // At once again: refused, and before the body was read (none of it is ever sent here).
    const early = await headersOnly(url, '/v1/stores/s1/live', chain.gw.s1, 2_800_000)
    assert.equal(early.status, 429)
    assert.equal(early.retryAfter, '1')
    const again = await post('s1')
    assert.equal(again.status, 429)
    assert.equal(again.body.error, 'INSTORE_LIVE_BUSY')
    // An anonymous caller takes no turn, and another store's snapshot is taken meanwhile.
    assert.equal((await api(`${url}/v1/stores/s2/live`, null, 'POST', snap())).status, 401)
    assert.equal((await post('s2')).status, 204)
    assert.equal(await metric(url, 'instore_server_live_refused_total{reason="INSTORE_LIVE_BUSY"}'), 2)
  } finally {
    await chain.close()
  }
})

test('the live gate: one snapshot in flight per store, the next one LIVE_MIN_INTERVAL_MS after its end', () => {
  let now = 0
  const gate = new LiveGate(() => now)
  const done = gate.take('s1')
  assert.ok(done)
  assert.equal(gate.take('s1'), null, 'one in flight')
  assert.ok(gate.take('s2'), 'other stores are not held')
  now += LIVE_MIN_INTERVAL_MS / 4
  assert.equal(gate.refuses('s1'), true, 'still in flight')
  done()
  now += LIVE_MIN_INTERVAL_MS - 1
  assert.equal(gate.refuses('s1'), true)
  now += 1
  assert.equal(gate.refuses('s1'), false)
  // A snapshot that took long earns a pause of COST_FACTOR times its time.
  const slow = gate.take('s1')
  now += 10 * LIVE_MIN_INTERVAL_MS
  slow?.()
  now += COST_FACTOR * 10 * LIVE_MIN_INTERVAL_MS - 1
  assert.equal(gate.refuses('s1'), true)
  now += 1
  assert.equal(gate.refuses('s1'), false)
})

test('the live gate with an interval of 0: one snapshot in flight per store, no pause after it', () => {
  let now = 0
  const gate = new LiveGate(() => now, 0)
  const done = gate.take('s1')
  assert.equal(gate.take('s1'), null, 'one in flight')
  now += 10 * LIVE_MIN_INTERVAL_MS
  done?.()
  assert.equal(gate.refuses('s1'), false, 'a slow snapshot earns no pause')
})

test(`posts of one store sent together: all but one refused before their body is read (${TEST_ENGINE})`, async () => {
  // Re-tester (s11, 14-live-gate-concurrent-posts-all-parsed.mjs): the turn was taken in the
  // handler, after the body was read, parsed and validated; posts sent together were all parsed.
  const chain = await startChain('live-gate-together', 1, undefined, { liveMinIntervalMs: 0 })
  try {
    const { url } = chain.replicas[0]
    const body = JSON.stringify(snap())
    // The first post's headers and half its body: its body is still arriving.
    let answered: (v: number) => void = () => {}
    const firstStatus = new Promise<number>(resolve => {
      answered = resolve
    })
    const first = request(
      `${url}/v1/stores/s1/live`,
      { method: 'POST', headers: { authorization: `Bearer ${chain.gw.s1}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } },
      res => {
        res.resume()
        answered(res.statusCode ?? 0)
      }
    )
    first.write(body.slice(0, 20))
    await new Promise(r => setTimeout(r, 200))
    // Another post of the store meanwhile is refused though none of its body is sent.
    const other = await Promise.race([headersOnly(url, '/v1/stores/s1/live', chain.gw.s1, 2_800_000), new Promise<null>(r => setTimeout(() => r(null), 5_000))])
    assert.equal(other?.status, 429, 'refused before its body, not left waiting for it')
    // Another store's post is not held by it, and a token of another store takes no turn of s1.
    assert.equal((await api(`${url}/v1/stores/s2/live`, chain.gw.s2, 'POST', snap())).status, 204)
    assert.equal((await headersOnly(url, '/v1/stores/s1/live', chain.gw.s2, 10)).status, 403)
    first.end(body.slice(20))
    assert.equal(await firstStatus, 204)
    // The turn is given back at its end (the pause off here): the next post is taken.
    assert.equal((await api(`${url}/v1/stores/s1/live`, chain.gw.s1, 'POST', snap())).status, 204)
    // A post cut off before its body ends gives its turn back too.
    const cut = request(`${url}/v1/stores/s1/live`, {
      method: 'POST',
      headers: { authorization: `Bearer ${chain.gw.s1}`, 'content-type': 'application/json', 'content-length': '1000' }
    })
    cut.on('error', () => {})
    cut.write('{"ts":')
    await new Promise(r => setTimeout(r, 200))
    cut.destroy()
    let after = 0
    for (let i = 0; i < 50 && after !== 204; i++) {
      await new Promise(r => setTimeout(r, 100))
      after = (await api(`${url}/v1/stores/s1/live`, chain.gw.s1, 'POST', snap())).status
    }
    assert.equal(after, 204)
  } finally {
    await chain.close()
  }
})
