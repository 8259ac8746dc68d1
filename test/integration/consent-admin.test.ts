// The outside tester's s11 item 3: an admin token switched consent on for shoppers who had declined
// or withdrawn it, and their EID keys went into every gateway config. Now consent is given only by
// the device's own token; an admin may withdraw it (on a shopper's request), never grant it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { api } from '../helpers/procs.ts'
import { startChain } from '../helpers/replicas.ts'
import { metric } from '../helpers/streams.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'

type Reg = { deviceId: string; token: string; subject: string }

test(`an admin token cannot grant a shopper's consent, only withdraw it (${TEST_ENGINE})`, async () => {
  const chain = await startChain('consent-admin', 1)
  try {
    const url = chain.replicas[0].url
    const register = async (presence: boolean, marketing: boolean) => (await api<Reg>(`${url}/v1/devices`, null, 'POST', { consent: { presence, marketing } })).body
    const put = (dev: Reg, token: string, presence: boolean, marketing: boolean) =>
      api<{ error?: string }>(`${url}/v1/devices/${dev.deviceId}/consent`, token, 'PUT', { presence, marketing })
    const listed = async () => {
      const r = await api<{ devices: Array<{ subject: string; marketing: boolean }> }>(`${url}/v1/stores/s1/config`, chain.gw.s1, 'GET')
      return new Map(r.body.devices.map(d => [d.subject, d.marketing]))
    }
    const declined = await register(false, false)
    const withdrew = await register(true, true)
    const presenceOnly = await register(true, false)
    assert.equal((await put(withdrew, withdrew.token, false, false)).status, 200)

    // Every way of switching something on, by the admin: refused with a specific code.
    const tries: Array<[Reg, boolean, boolean]> = [
      [declined, true, true],
      [declined, true, false],
      [withdrew, true, false],
      [presenceOnly, true, true]
    ]
    for (const [dev, p, m] of tries) {
      const r = await put(dev, chain.admin, p, m)
      assert.equal(r.status, 403, `admin PUT ${p}/${m}`)
      assert.equal(r.body.error, 'INSTORE_CONSENT_BY_SHOPPER')
    }
    assert.equal(await metric(url, 'instore_server_refused_total{reason="INSTORE_CONSENT_BY_SHOPPER"}'), tries.length)
    let config = await listed()
    assert.equal(config.has(declined.subject), false)
    assert.equal(config.has(withdrew.subject), false)
    assert.equal(config.get(presenceOnly.subject), false)

    // Withdrawing on a shopper's request, and restating what stands, is the admin's to do.
    assert.equal((await put(presenceOnly, chain.admin, true, false)).status, 200)
    assert.equal((await put(presenceOnly, chain.admin, false, false)).status, 200)
    assert.equal((await put(declined, chain.admin, false, false)).status, 200)
    config = await listed()
    assert.equal(config.has(presenceOnly.subject), false)

    // The shopper's own app grants it again.
    assert.equal((await put(declined, declined.token, true, true)).status, 200)
    assert.equal((await listed()).get(declined.subject), true)
    // Nor does an admin acknowledge a trigger in a shopper's place (the funnel counts the phone's word).
    const ack = await api<{ error?: string }>(`${url}/v1/triggers/T-none/ack`, chain.admin, 'POST', { status: 'opened', storeId: 's1' })
    assert.equal(ack.status, 403)
    assert.equal(ack.body.error, 'INSTORE_ACK_BY_DEVICE')
    // The same consent again takes no new config version (every gateway's delta would change).
    const version = async () => Number((await chain.replicas[0].ctx.db.selectFrom('config_version').select('version').executeTakeFirstOrThrow()).version)
    const v0 = await version()
    for (let i = 0; i < 3; i++) assert.equal((await put(declined, declined.token, true, true)).status, 200)
    assert.equal(await version(), v0)
    assert.equal((await put(declined, declined.token, true, false)).status, 200)
    assert.equal(await version(), v0 + 1)
    // Another device's token still cannot touch it.
    assert.equal((await put(declined, withdrew.token, false, false)).status, 403)
  } finally {
    await chain.close()
  }
})
