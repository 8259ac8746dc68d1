// The outside tester's page findings, in a real Chromium against a real server:
// - t14: the demo phone page saved the trigger stream's last event id inside the handler, before
//   the SDK moved past the trigger, so every reload showed the last trigger again;
// - t12: the dashboard put the operator's bearer token in the live stream's URL (`?token=adm_…`),
//   where a proxy's access log keeps it.
import assert from 'node:assert/strict'
import { chromium, type Browser } from 'playwright-core'
import { waitFor } from '../helpers/gateway.ts'
import { partTest, CHROMIUM } from '../helpers/parts.ts'
import { startChain, registerDevice } from '../helpers/replicas.ts'
import { fire, makeCampaign } from '../helpers/streams.ts'

const launch = async (): Promise<Browser> =>
  await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
const connections = async (url: string) => ((await (await fetch(`${url}/healthz`)).json()) as { sseConnections: number }).sseConnections

partTest('chromium', 'the demo phone page shows a trigger once: a reload resumes after it, not before', { timeout: 120_000 }, async () => {
  const chain = await startChain('phone-resume', 1)
  const browser = await launch()
  try {
    const { url } = chain.replicas[0]
    await makeCampaign(chain, 'first')
    await makeCampaign(chain, 'second')
    const dev = await registerDevice(url)
    const page = await browser.newPage()
    await page.goto(`${url}/phone#deviceId=${dev.deviceId}&token=${dev.token}`)
    await waitFor(async () => (await connections(url)) === 1, 30_000, 'the phone page to follow its triggers')
    await fire(chain, dev.subject, 'T1', 'first')
    await page.waitForSelector('.card.trigger', { timeout: 30_000 })
    const saved = () => page.evaluate(k => localStorage.getItem(k), `lastEventId:${dev.deviceId}`)
    await waitFor(async () => /^\d+$/.test((await saved()) ?? ''), 10_000, "the trigger's id to be saved")
    await page.reload()
    await fire(chain, dev.subject, 'T2', 'second')
    await page.waitForFunction(() => [...document.querySelectorAll('.card.trigger h2')].some(h => h.textContent === 'Offer second'), undefined, { timeout: 30_000 })
    assert.deepEqual(await page.$$eval('.card.trigger h2', hs => hs.map(h => h.textContent)), ['Offer second'], 'the trigger from before the reload is not shown again')
  } finally {
    await browser.close()
    await chain.close()
  }
})
