// The re-tester's s12 item: erasure is never counted against a write budget, and N DELETEs of one
// device sent at once all passed authentication before the first committed; each one after it found
// the device's row gone, was read as "a gateway may hold it", and took a config version and wrote
// an erasure record, even for a device never listed (106 answers 204 for 3 devices, version +106).
// Now only the erasure that finds the device does the work: the others answer 404 and write nothing.
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

const N = 40

test(`concurrent erasures of one device: one does the work, no extra record or config version (${TEST_ENGINE})`, async () => {
  const chain = await startChain('erasure-concurrent', 2)
  try {
    const urls = chain.replicas.map(r => r.url)
    const { ctx } = chain.replicas[0]
    const version = async () => (await api<{ version: string }>(`${urls[0]}/v1/stores/s1/config`, chain.gw.s1)).body.version
    const register = async (presence: boolean) => {
      const r = await api<Reg>(`${urls[0]}/v1/devices`, null, 'POST', { consent: { presence, marketing: false } })
      assert.equal(r.status, 201)
      return r.body
    }
    const eraseAtOnce = async (d: Reg) => {
      const res = await Promise.all(Array.from({ length: N }, (_, i) => api(`${urls[i % urls.length]}/v1/devices/${d.deviceId}`, d.token, 'DELETE')))
      const by: Record<number, number> = {}
      for (const r of res) by[r.status] = (by[r.status] ?? 0) + 1
      return by
    }
    for (let round = 0; round < 3; round++) {
      // Never listed: no record is due, and no version.
      const stranger = await register(false)
      const v0 = await version()
      const by = await eraseAtOnce(stranger)
      assert.equal(by[204], 1, `one erasure did it: ${JSON.stringify(by)}`)
      // The others: the token gone (401, then 429 for an address sending dead tokens) or the device gone (404).
      assert.equal((by[401] ?? 0) + (by[404] ?? 0) + (by[429] ?? 0), N - 1, JSON.stringify(by))
      assert.equal(await version(), v0, 'no config version for an unlisted device')
    }
    assert.equal((await ctx.db.selectFrom('erasures').select('subject').execute()).length, 0)
    // Listed: one record, one version.
    const listed = await register(true)
    const by = await eraseAtOnce(listed)
    assert.equal(by[204], 1, JSON.stringify(by))
    const rows = await ctx.db.selectFrom('erasures').select(['subject', 'version']).execute()
    assert.deepEqual(
      rows.map(r => r.subject),
      [listed.subject]
    )
    assert.equal(String(rows[0].version), (await version()).split('.')[0], 'the erasure took the one last version')
  } finally {
    await chain.close()
  }
})
