import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { startServer, api } from '../helpers/procs.ts'
import { partTest, CHROMIUM } from '../helpers/parts.ts'

/** Posts a live snapshot as a gateway does: again after a second when the store's last one was too recent (429, live-gate.ts). */
async function postLive(url: string, token: string, body: unknown): Promise<{ status: number }> {
  for (;;) {
    const r = await api(url, token, 'POST', body)
    if (r.status !== 429) return r
    await new Promise(resolve => setTimeout(resolve, 1000))
  }
}

partTest(
  'chromium',
  'a multi-floor store: the map shows one floor at a time, its shops and the dots on it; people now with its range and visitors today',
  { timeout: 120_000 },
  async () => {
    const ADMIN = 'adm_floors_test_0123456789'
    const server = await startServer(mkdtempSync(join(tmpdir(), 'floors-server-')), ADMIN)
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
    })
    try {
      const rect = {
        type: 'Polygon',
        coordinates: [
          [
            [0, 0],
            [20, 0],
            [20, 12],
            [0, 12],
            [0, 0]
          ]
        ]
      }
      const site = {
        type: 'FeatureCollection',
        storeId: 'two-floors',
        name: 'Two floors',
        features: [
          { type: 'Feature', properties: { kind: 'shop', id: 'ground' }, geometry: rect },
          { type: 'Feature', properties: { kind: 'shop', id: 'upper', floor: 1 }, geometry: rect },
          { type: 'Feature', properties: { kind: 'sensor', id: 'g1' }, geometry: { type: 'Point', coordinates: [1, 1] } },
          { type: 'Feature', properties: { kind: 'sensor', id: 'u1', floor: 1 }, geometry: { type: 'Point', coordinates: [19, 11] } }
        ]
      }
      assert.equal((await api(`${server.url}/v1/stores`, ADMIN, 'POST', { site })).status, 201)
      const pos = (subject: string, x: number, y: number, floor: number, shop: string) => ({ subject, ts: 1, x, y, floor, accuracyM: 1, shop, sector: null, source: 'ble' })
      // Anonymous subjects: an `app:` subject is shown only for a registered device with presence consent.
      const snapshot = {
        ts: 1,
        positions: [pos('h:down', 5, 5, 0, 'ground'), pos('h:up1', 15, 8, 1, 'upper'), pos('h:up2', 16, 8, 1, 'upper')],
        occupancy: { ts: 1, shops: { ground: 1, upper: 2 }, sectors: {}, passersBy: 0 }
      }
      assert.equal((await postLive(`${server.url}/v1/stores/two-floors/live`, ADMIN, snapshot)).status, 204)
      const page = await browser.newPage()
      await page.goto(`${server.url}/#token=${ADMIN}&store=two-floors`)
      await page.waitForSelector('circle.dot')
      const map = async () => ({
        shops: await page.$$eval('#map path', ps => ps.map(p => p.id).join(',')),
        dots: await page.$$eval('circle.dot', cs => cs.map(c => `${c.getAttribute('cx')},${c.getAttribute('cy')}`).join(' '))
      })
      assert.equal(await page.$eval('#floor', e => (e as HTMLSelectElement).hidden), false)
      assert.deepEqual(await map(), { shops: 'shop-ground', dots: '5,5' })
      await page.selectOption('#floor', '1')
      assert.deepEqual(await map(), { shops: 'shop-upper', dots: '15,8 16,8' })
      // Counts cover the whole store, whatever floor is on the map.
      assert.equal(await page.$eval('#inStore', e => e.textContent), '3')
      assert.equal(await page.$eval('#inStoreRange', e => e.textContent), '', 'no range sent: none shown')
      assert.equal(await page.$eval('#visitorsToday', e => e.textContent), '–')
      // People now with its range, and visitors today, as the gateway's people counting sends them.
      const zones = (ground: number, upper: number) => ({ shops: { ground, upper }, sectors: {} })
      const people = {
        ...snapshot,
        ts: 2,
        occupancy: {
          ...snapshot.occupancy,
          ts: 2,
          shops: { ground: 4, upper: 3 },
          low: zones(3, 2),
          high: zones(6, 4),
          bySource: { app: zones(1, 0), ble: zones(0, 1), wifi: zones(3, 2) },
          fixtures: 5
        },
        footfall: {
          ts: 2,
          date: '2026-11-02',
          wifiDevices: 90,
          wifiAddresses: 700,
          bleDevices: 3,
          visitors: 41,
          visitorsByHour: { '09': 41 },
          wifiVisitors: 38,
          appVisitors: 2,
          bleVisitors: 1
        }
      }
      assert.equal((await postLive(`${server.url}/v1/stores/two-floors/live`, ADMIN, people)).status, 204)
      await page.waitForFunction(() => document.getElementById('visitorsToday')?.textContent === '41', undefined, { timeout: 30_000 })
      assert.deepEqual(await page.$eval('.stats', e => [e.querySelector('#inStore')?.textContent, e.querySelector('#inStoreRange')?.textContent]), ['7', '(5–10)'])
      // A shop the site lacks does not count, and a range that does not hold the count is not shown.
      const odd = {
        ...people,
        ts: 3,
        occupancy: { ...people.occupancy, ts: 3, shops: { ground: 4, upper: 3, elsewhere: 1_000_000 }, low: zones(9, 9), high: zones(6, 4) },
        footfall: { ...people.footfall, ts: 3, visitors: 42 }
      }
      assert.equal((await postLive(`${server.url}/v1/stores/two-floors/live`, ADMIN, odd)).status, 204)
      await page.waitForFunction(() => document.getElementById('visitorsToday')?.textContent === '42', undefined, { timeout: 30_000 })
      assert.deepEqual(await page.$eval('.stats', e => [e.querySelector('#inStore')?.textContent, e.querySelector('#inStoreRange')?.textContent]), ['7', ''])
    } finally {
      await browser.close()
      await server.stop()
    }
  }
)

partTest('chromium', 'the dashboard opened with no store says so in its header, not the raw validation text', { timeout: 120_000 }, async () => {
  const ADMIN = 'adm_no_store_test_0123456789'
  const server = await startServer(mkdtempSync(join(tmpdir(), 'no-store-server-')), ADMIN)
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  try {
    const page = await browser.newPage()
    // A store asked for that does not exist, on a server with none: the same page.
    await page.goto(`${server.url}/#token=${ADMIN}&store=nowhere`)
    await page.waitForFunction(() => document.getElementById('status')?.textContent !== 'connecting…', undefined, { timeout: 30_000 })
    const status = await page.$eval('#status', e => e.textContent ?? '')
    // Before: "params/storeId must NOT have fewer than 1 characters" (the site asked for store '').
    assert.match(status, /^no store yet/, status)
    assert.doesNotMatch(status, /params|must|characters/, status)
    assert.equal(await page.$eval('#store', e => (e as HTMLSelectElement).options.length), 0)
  } finally {
    await browser.close()
    await server.stop()
  }
})
