import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { chromium } from 'playwright-core'
import { ROOT } from './helpers/run.ts'
import { waitFor } from './helpers/gateway.ts'

const CHROMIUM = '/usr/bin/chromium'

test('the demo in a browser: dots move, counts change, a campaign is created, a trigger reaches the demo phone', { skip: !existsSync(CHROMIUM) && 'chromium is not installed (.ci/run installs it)', timeout: 300_000 }, async () => {
  const demo = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  demo.stdout.on('data', d => { out += d }); demo.stderr.on('data', d => { out += d })
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
    const dots = async () => await page.$$eval('circle.dot', cs => cs.map(c => `${c.getAttribute('cx')},${c.getAttribute('cy')}`).sort().join(' '))
    const first = await dots()
    await waitFor(async () => (await dots()) !== first, 40_000, 'dots to move')
    const counts = async () => await page.$eval('#dots', e => e.textContent) + '/' + await page.$eval('#inStore', e => e.textContent) + '/' + await page.$eval('#feed', e => e.childElementCount)
    const c0 = await counts()
    await waitFor(async () => (await counts()) !== c0, 60_000, 'counts to change')
    await page.screenshot({ path: `${ROOT}/out/dashboard.png` }).catch(() => {})

    // A store manager's local campaign through the form.
    await page.fill('form#campaign input[name=id]', 'form-made')
    await page.selectOption('form#campaign select[name=sector]', 'women')
    await page.click('form#campaign button[type=submit]')
    await page.waitForFunction(() => document.getElementById('formMsg')?.textContent?.includes('created'), undefined, { timeout: 30_000 })

    await phone.waitForSelector('.trigger', { timeout: 180_000 })
    assert.ok((await phone.$$('.trigger')).length >= 1)
    await phone.screenshot({ path: `${ROOT}/out/phone.png` }).catch(() => {})
  } finally {
    await browser.close()
    demo.kill('SIGINT')
    const [code] = await once(demo, 'exit')
    assert.equal(code, 0, out.slice(-2000))
  }
})
