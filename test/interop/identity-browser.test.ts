// The SDK as browsers get it (GET /sdk.js, bundled by the server) registers and computes the same
// Eddystone-EIDs as shared/eid.ts, with WebCrypto in a real Chromium.
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { buildServer } from '../../server/app.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'
import { eid, counterAt } from '../../shared/eid.ts'

import { partTest, CHROMIUM } from '../helpers/parts.ts'

partTest('chromium', 'in Chromium, /sdk.js registers and advertises the EIDs shared/eid.ts computes', { timeout: 120_000 }, async () => {
  const { app } = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'sdk-browser-')), log: silentLogger, adminToken: 'adm_sdk_browser' }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  try {
    const page = await browser.newPage()
    await page.goto(`${url}/healthz`)
    const T = 1764000000000
    const got = await page.evaluate(
      async ({ base, at }) => {
        const sdk = (await import(`${base}/sdk.js`)) as typeof import('../../sdk/client.ts')
        const c = new sdk.InstoreClient({ baseUrl: base })
        const reg = await c.register({ presence: true, marketing: false })
        return { reg, now: await c.eid(at), later: await c.eid(at + 1024 * 1000) }
      },
      { base: url, at: T }
    )
    assert.match(got.reg.subject, /^app:[0-9a-f]{16}$/)
    const key = Buffer.from(got.reg.eid.key, 'hex')
    assert.equal(got.now, eid(key, got.reg.eid.k, counterAt(T)))
    assert.equal(got.later, eid(key, got.reg.eid.k, counterAt(T + 1024 * 1000)))
    assert.notEqual(got.now, got.later)
  } finally {
    await browser.close()
    await app.close()
  }
})
