// Behind a reverse proxy every request comes from the proxy's address: without `trustProxy` all
// callers share one registration limit (one stranger locks everyone out); with it, each caller
// the proxy names in X-Forwarded-For has its own.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from '../../server/app.ts'
import { silentLogger } from '../../shared/log.ts'
import { onTestDb } from '../helpers/postgres.ts'

const cases = [
  { name: 'behind a trusted proxy, each forwarded caller has its own limit', trustProxy: '127.0.0.1', second: 201 },
  { name: 'without trustProxy, callers behind one proxy share its limit', trustProxy: undefined, second: 429 }
]

for (const c of cases) {
  test(`registration limits: ${c.name}`, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'trust-proxy-'))
    const { app } = await buildServer(
      await onTestDb({ dataDir, log: silentLogger, ...(c.trustProxy ? { trustProxy: c.trustProxy } : {}), limits: { registrationsPerWindow: 2, windowMs: 60_000 } })
    )
    try {
      const register = async (from: string) =>
        (await app.inject({ method: 'POST', url: '/v1/devices', headers: { 'x-forwarded-for': from }, payload: { consent: { presence: true, marketing: false } } })).statusCode
      assert.deepEqual([await register('10.0.0.1'), await register('10.0.0.1'), await register('10.0.0.1')], [201, 201, 429])
      assert.equal(await register('10.0.0.2'), c.second)
    } finally {
      await app.close()
    }
  })
}
