// Re-tester s13 (RS-repro 05): device entries gained `scan` (a phone's device-id digest), but a
// gateway that last pulled from a server before it was sent deltas only: the devices listed before
// the upgrade never reached it with their digest until the next epoch (up to about 18 h). Versions
// now name the entries' format, and a `since` of another format is answered with a whole config.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { api } from '../helpers/procs.ts'
import { startChain } from '../helpers/replicas.ts'
import { TEST_ENGINE } from '../helpers/postgres.ts'

interface Config {
  version: string
  full: boolean
  devices: Array<{ subject: string; scan?: string }>
}

test(`a gateway holding a config of an older entry format gets a whole config, every device with its scan digest (${TEST_ENGINE})`, { timeout: 120_000 }, async () => {
  const chain = await startChain('config-format', 1)
  try {
    const { url } = chain.replicas[0]
    const pull = async (since?: string) => {
      const r = await fetch(`${url}/v1/stores/s1/config${since === undefined ? '' : `?since=${encodeURIComponent(since)}`}`, {
        headers: { authorization: `Bearer ${chain.gw.s1}` }
      })
      assert.equal(r.status, 200)
      return (await r.json()) as Config
    }
    const reg = await api<{ subject: string }>(`${url}/v1/devices`, null, 'POST', { consent: { presence: true, marketing: false } })
    assert.equal(reg.status, 201)
    const whole = await pull()
    assert.match(whole.version, /\.m2$/, 'the version names the entries’ format')
    // A version as a server before the format was named gave it (the same change, epoch and hash).
    const before = whole.version.replace(/\.m[0-9]+$/, '')
    const upgraded = await pull(before)
    assert.equal(upgraded.full, true, 'a config of the old format is replaced whole')
    const mine = upgraded.devices.find(d => d.subject === reg.body.subject)
    assert.match(mine?.scan ?? '', /^[0-9a-f]{32}$/)
    // Of this format: a delta, as before.
    const delta = await pull(whole.version)
    assert.equal(delta.full, false)
  } finally {
    await chain.close()
  }
})
