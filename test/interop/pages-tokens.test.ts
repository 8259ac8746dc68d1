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

partTest('chromium', "the dashboard never puts the operator's token in a URL: its live stream carries it in the Authorization header", { timeout: 120_000 }, async () => {
  const chain = await startChain('dashboard-token', 1)
  const browser = await launch()
  try {
    const { url } = chain.replicas[0]
    const snapshot = {
      ts: 1,
      positions: [{ subject: 'h:0001', ts: 1, x: 5, y: 5, floor: 0, accuracyM: 1, shop: 'boutique', sector: null, source: 'ble' }],
      occupancy: { ts: 1, shops: { boutique: 1 }, sectors: {}, passersBy: 0 }
    }
    const page = await browser.newPage()
    const requests: Array<{ url: string; authorization: string | undefined }> = []
    page.on('request', r => requests.push({ url: r.url(), authorization: r.headers().authorization }))
    // The token reaches the page in the link's fragment, which a browser never sends.
    await page.goto(`${url}/#token=${chain.admin}&store=s1`)
    await waitFor(() => requests.some(r => r.url.includes('/v1/stores/s1/live')), 30_000, 'the live stream to be opened')
    await waitFor(async () => (await connections(url)) === 1, 30_000, 'the live stream to be held')
    const posted = await fetch(`${url}/v1/stores/s1/live`, {
      method: 'POST',
      headers: { authorization: `Bearer ${chain.gw.s1}`, 'content-type': 'application/json' },
      body: JSON.stringify(snapshot)
    })
    assert.equal(posted.status, 204)
    await page.waitForSelector('circle.dot', { timeout: 30_000 })
    assert.deepEqual(
      requests.filter(r => r.url.includes(chain.admin) || /[?&](access_)?token=/.test(r.url)).map(r => r.url),
      [],
      'no URL carries a token'
    )
    assert.equal(requests.find(r => r.url.includes('/v1/stores/s1/live'))?.authorization, `Bearer ${chain.admin}`)
  } finally {
    await browser.close()
    await chain.close()
  }
})
