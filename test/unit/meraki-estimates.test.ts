// Meraki's own location estimates are checked before they place anyone (issue 26, hostile test:
// lat/lng 0,0 gave x -5.8e6, x 1e9 was used, variance 1e308 gave accuracy 1e154).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile } from '../../shared/site.ts'
import { checkMerakiPost, merakiReadings } from '../../gateway/ingest/meraki.ts'

const site = loadSiteFile('sites/boutique.site.json')
const T = '2026-12-06T12:00:00Z'

const CASES: Array<{ name: string; loc: Record<string, unknown>; used: boolean }> = [
  { name: 'a plausible estimate', loc: { x: 5, y: 5, variance: 4 }, used: true },
  { name: 'x 1e9', loc: { x: 1e9, y: 5, variance: 4 }, used: false },
  { name: 'y far below the site', loc: { x: 5, y: -500, variance: 4 }, used: false },
  { name: 'variance 1e308', loc: { x: 5, y: 5, variance: 1e308 }, used: false },
  { name: 'a negative x just inside the margin', loc: { x: -10, y: 5 }, used: true }
]

for (const c of CASES) {
  test(`Meraki estimate: ${c.name} is ${c.used ? 'used' : 'refused and counted'}`, () => {
    const body = { version: '3.0', secret: 's', type: 'WiFi', data: { observations: [{ clientMac: 'a4:83:e7:00:00:01', locations: [{ time: T, ...c.loc, rssiRecords: [] }] }] } }
    const chk = checkMerakiPost(body, { validator: 'v', secret: 's' })
    assert.ok(chk.ok)
    // No AP of the site heard it: the estimate is all there is.
    const r = merakiReadings(chk.post, new Map(), 0, Infinity, site)
    assert.equal(r.fixes.length, c.used ? 1 : 0, JSON.stringify(r.fixes))
    assert.equal(r.implausible, c.used ? 0 : 1)
  })
}
