// Defect 3 of the s8 outside tester's server list: the analytics counted one visit (one subject,
// visit id and store) once per shop.enter event id and once per shop.exit event id. A visit closed
// by presence withdrawal, then entered again under a new event id once consent was given again, was
// counted twice; so was a visit whose entry and exit came again after its exit.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { api } from '../helpers/procs.ts'
import { startChain, registerDevice, type Chain } from '../helpers/replicas.ts'
import { TEST_ENGINE } from '../helpers/postgres.ts'

let n = 0
const t0 = Date.now() - 120_000
const ev = (type: string, subject: string, over: Record<string, unknown> = {}) => ({
  id: `VC${++n}`,
  type,
  storeId: 's1',
  subject,
  visitId: 'v1',
  seq: n,
  ts: t0,
  shop: 'boutique',
  ...(type === 'shop.enter' ? { frequency: { visits7d: 0, visits30d: 0, visits90d: 0, daysSinceLastVisit: null, segment: 'first' } } : {}),
  ...over
})
const post = async (chain: Chain, events: unknown[]) => {
  const r = await api<{ accepted: number }>(`${chain.replicas[0].url}/v1/stores/s1/events`, chain.gw.s1, 'POST', { events })
  assert.equal(r.status, 200, JSON.stringify(r.body))
  assert.equal(r.body.accepted, events.length)
}
interface Analytics {
  visits: { total: number; perDay: Array<{ visits: number }> }
  segments: Record<string, number>
  durations?: unknown
}
const analytics = async (chain: Chain) => (await api<Analytics>(`${chain.replicas[0].url}/v1/analytics/stores/s1`, chain.admin, 'GET')).body

test(`a visit entered again after presence withdrawal and consent given again is counted once (${TEST_ENGINE})`, async () => {
  const chain = await startChain('visit-recount-a', 1)
  try {
    const d = await registerDevice(chain.replicas[0].url)
    await post(chain, [ev('shop.enter', d.subject)])
    for (const presence of [false, true])
      assert.equal((await api(`${chain.replicas[0].url}/v1/devices/${d.deviceId}/consent`, d.token, 'PUT', { presence, marketing: false })).status, 200)
    await post(chain, [ev('shop.enter', d.subject, { ts: t0 + 10_000 })])
    const a = await analytics(chain)
    assert.equal(
      a.visits.perDay.reduce((s, x) => s + x.visits, 0),
      1
    )
    assert.deepEqual(a.segments, { first: 1 })
  } finally {
    await chain.close()
  }
})

test(`a second entry and exit of a visit after its exit count nothing (${TEST_ENGINE})`, async () => {
  const chain = await startChain('visit-recount-b', 1)
  try {
    const subject = 'ble:bb0000000001'
    await post(chain, [ev('shop.enter', subject), ev('shop.exit', subject, { ts: t0 + 30_000, durationMs: 30_000 })])
    const once = await analytics(chain)
    await post(chain, [ev('shop.enter', subject, { ts: t0 + 40_000, frequency: { visits7d: 0, visits30d: 0, visits90d: 0, daysSinceLastVisit: null, segment: 'regular' } })])
    await post(chain, [ev('shop.exit', subject, { ts: t0 + 60_000, durationMs: 60_000 })])
    const a = await analytics(chain)
    assert.equal(a.visits.total, 1)
    assert.deepEqual(a.segments, { first: 1 })
    assert.deepEqual(a, once, 'nothing changed, durations included')
  } finally {
    await chain.close()
  }
})

test(`an exit arriving before its entry: the visit is counted once, its duration once (${TEST_ENGINE})`, async () => {
  const chain = await startChain('visit-recount-c', 1)
  try {
    const subject = 'ble:bb0000000002'
    await post(chain, [ev('shop.exit', subject, { ts: t0 + 30_000, durationMs: 30_000 })])
    await post(chain, [ev('shop.enter', subject)])
    const a = await analytics(chain)
    assert.equal(a.visits.total, 1)
    assert.deepEqual(a.segments, { first: 1 })
  } finally {
    await chain.close()
  }
})
