// The demo (npm start) in a browser. Its own file: the demo runs its server on SQLite whatever
// INSTORE_TEST_DB says, so the PostgreSQL pass (scripts/test.ts: files that start a server through
// the postgres helper or startServer) would only run the same minute again.
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { chromium } from 'playwright-core'
import { ROOT, START_TIMEOUT_MS } from '../helpers/run.ts'
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
  // Whether the demo said it had started: its SIGINT handler is in place only from then on.
  let started = false
  try {
    // A bound for a hang: the demo writes two hours of shoppers and registers their phones before it
    // says so, which took over 60 s on a 2-core machine at load average 38.
    await waitFor(() => /demo phone\s+http/.test(out), START_TIMEOUT_MS, 'the demo to start')
    started = true
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
    // Stopped before it had started, the demo dies of the signal: the error to see is the test's own
    // (the wait that timed out), not this exit code in its place.
    if (started) assert.equal(code, 0, `exit ${code} signal ${demo.signalCode}: ${out.slice(-2000)}`)
  }
})
