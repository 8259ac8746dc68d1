// The demo (npm start) in a browser. Its own file: the demo runs its server on SQLite whatever
// INSTORE_TEST_DB says, so the PostgreSQL pass (scripts/test.ts: files that start a server through
// the postgres helper or startServer) would only run the same minute again.
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { chromium } from 'playwright-core'
import { ROOT } from '../helpers/run.ts'
import { waitFor } from '../helpers/gateway.ts'
import { stopChild } from '../helpers/procs.ts'
import { partTest, CHROMIUM } from '../helpers/parts.ts'

partTest('chromium', 'the demo in a browser: dots move, counts change, a campaign is created, a trigger reaches the demo phone', { timeout: 300_000 }, async t => {
  // The demo's data and the screenshots go to a temp folder, never into the checkout (nor over a demo the developer runs).
  const dir = mkdtempSync(join(tmpdir(), 'demo-browser-'))
  const shots = process.env.INSTORE_SCREENSHOT_DIR ?? dir
  const demo = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, INSTORE_DEMO_DATA: join(dir, 'demo') }
  })
  let out = ''
  demo.stdout.on('data', d => {
    out += d
  })
  demo.stderr.on('data', d => {
    out += d
  })
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  try {
    await waitFor(() => /demo phone\s+http/.test(out), 60_000, 'the demo to start')
    const dashboardUrl = (/dashboard\s+(\S+)/.exec(out) as RegExpExecArray)[1]
    const phoneUrl = (/demo phone\s+(\S+)/.exec(out) as RegExpExecArray)[1]
    const page = await browser.newPage()
    await page.goto(dashboardUrl)
    const phone = await browser.newPage()
    await phone.goto(phoneUrl)

    await page.waitForSelector('circle.dot', { timeout: 60_000 })
    // The operator's bearer token is masked: a screenshot or a shared screen must not show it (s8 report item 4).
    assert.deepEqual(await page.$eval('#token', e => [(e as HTMLInputElement).type, e.getAttribute('autocomplete'), (e as HTMLInputElement).value.length > 0]), [
      'password',
      'off',
      true
    ])
    const dots = async () =>
      await page.$$eval('circle.dot', cs =>
        cs
          .map(c => `${c.getAttribute('cx')},${c.getAttribute('cy')}`)
          .sort()
          .join(' ')
      )
    const first = await dots()
    await waitFor(async () => (await dots()) !== first, 40_000, 'dots to move')
    const counts = async () =>
      (await page.$eval('#dots', e => e.textContent)) + '/' + (await page.$eval('#inStore', e => e.textContent)) + '/' + (await page.$eval('#feed', e => e.childElementCount))
    const c0 = await counts()
    await waitFor(async () => (await counts()) !== c0, 60_000, 'counts to change')
    await page.screenshot({ path: join(shots, 'dashboard.png') }).catch(() => {})

    // A store manager's local campaign through the form.
    await page.fill('form#campaign input[name=id]', 'form-made')
    await page.selectOption('form#campaign select[name=sector]', 'women')
    await page.click('form#campaign button[type=submit]')
    await page.waitForFunction(() => document.getElementById('formMsg')?.textContent?.includes('created'), undefined, { timeout: 30_000 })

    await phone.waitForSelector('.trigger', { timeout: 180_000 })
    assert.ok((await phone.$$('.trigger')).length >= 1)
    await phone.screenshot({ path: join(shots, 'phone.png') }).catch(() => {})
    t.diagnostic(`screenshots in ${shots}`)
  } finally {
    await browser.close()
    const code = await stopChild(demo, 'SIGINT').catch((err: Error) => assert.fail(`${err.message}: ${out.slice(-2000)}`))
    assert.equal(code, 0, `exit ${code} signal ${demo.signalCode}: ${out.slice(-2000)}`)
  }
})
