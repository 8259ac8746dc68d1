// Defect 3 of the outside tester's s9 list: registering without presence consent and erasing at
// once put an erasure in every gateway's whole config for --gateway-retention-days (400), though
// no gateway was ever given the subject: anyone could grow every gateway's config by a line per
// anonymous registration. A subject a gateway may hold (presence consent at any time, named in a
// gateway's batch, data stored about it) still gets its erasure to every gateway.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { api } from '../helpers/procs.ts'
import { startChain } from '../helpers/replicas.ts'
import { TEST_ENGINE } from '../helpers/postgres.ts'

interface Reg {
  deviceId: string
  token: string
  subject: string
}
interface Config {
  version: string
  erasures: string[]
  devices: Array<{ subject: string }>
}

test(`erasing a subject no gateway was given adds no erasure; one a gateway may hold is listed, whole and delta (${TEST_ENGINE})`, async () => {
  const chain = await startChain('erasure-unlisted', 1)
  try {
    const { url, ctx } = chain.replicas[0]
    const config = async (since?: string) => {
      const r = await api<Config>(`${url}/v1/stores/s1/config${since ? `?since=${encodeURIComponent(since)}` : ''}`, chain.gw.s1)
      assert.equal(r.status, 200)
      return r.body
    }
    const register = async (presence: boolean) => {
      const r = await api<Reg>(`${url}/v1/devices`, null, 'POST', { consent: { presence, marketing: false } })
      assert.equal(r.status, 201)
      return r.body
    }
    const erase = async (d: Reg) => assert.equal((await api(`${url}/v1/devices/${d.deviceId}`, d.token, 'DELETE')).status, 204)
    const setConsent = async (d: Reg, presence: boolean) =>
      assert.equal((await api(`${url}/v1/devices/${d.deviceId}/consent`, d.token, 'PUT', { presence, marketing: false })).status, 200)

    const before = await config()
    // Strangers: registered without presence consent, erased by their own token.
    for (let i = 0; i < 20; i++) await erase(await register(false))
    const afterStrangers = await config()
    assert.deepEqual(afterStrangers.erasures, [])
    assert.equal(JSON.stringify({ ...afterStrangers, version: '' }).length, JSON.stringify({ ...before, version: '' }).length, 'the whole config is unchanged')
    assert.deepEqual((await config(before.version)).erasures, [])

    // Those a gateway may hold: listed with presence consent; consent given later then withdrawn;
    // never consented but named in a gateway's batch (refused, yet the gateway has seen it).
    const listed = await register(true)
    const withdrawn = await register(false)
    await setConsent(withdrawn, true)
    await setConsent(withdrawn, false)
    const named = await register(false)
    const ev = { storeId: 's1', subject: named.subject, visitId: 'V-named', ts: Date.now() - 1000, shop: 'boutique', id: 'E-named', type: 'shop.enter', seq: 1 }
    // Refused (no presence consent, 422), and yet named by a gateway.
    assert.equal((await api(`${url}/v1/stores/s1/events`, chain.gw.s1, 'POST', { events: [ev] })).status, 422)
    // Marked after the batch's reply (outside its transaction): wait for it.
    let reported: number | null | undefined = null
    for (let i = 0; i < 200 && reported == null; i++) {
      reported = (await ctx.db.selectFrom('devices').select('last_reported').where('device_id', '=', named.deviceId).executeTakeFirst())?.last_reported
      if (reported == null) await new Promise(r => setTimeout(r, 25))
    }
    assert.ok(reported != null, 'the batch marked the subject as named by a gateway')
    const mid = await config()
    for (const d of [listed, withdrawn, named]) await erase(d)
    const expected = [listed.subject, withdrawn.subject, named.subject].sort()
    assert.deepEqual((await config()).erasures, expected)
    assert.deepEqual((await config(mid.version)).erasures, expected)
    // Stored in the database, as a gateway offline for months needs.
    const rows = await ctx.db.selectFrom('erasures').select('subject').orderBy('subject').execute()
    assert.deepEqual(
      rows.map(r => r.subject),
      expected
    )
  } finally {
    await chain.close()
  }
})
