// Daily visitors on a site of two shops (gateway/presence/people.ts, people-inside.ts; issue 32
// review): a patch of one shop with no outcomes yet takes what loud single bursts in that shop
// turned out to be, not what they did next door. Repro: the prior was the whole site's, so 20
// shoppers coming in at the west shop made a loud single burst at a new patch of the east shop a
// visitor. The boutique's floor and sensors, cut in two shops at x = 10 m.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile, parseSite } from '../../shared/site.ts'
import { People, peopleOptions, wifiModels } from '../../gateway/presence/people.ts'
import { wifiBurst } from '../helpers/wifi-burst.ts'

const file = loadSiteFile('sites/boutique.site.json').file as { features: Array<{ properties: { kind: string } }> }
const shop = (id: string, x0: number, x1: number) => ({
  type: 'Feature',
  properties: { kind: 'shop', id, name: id },
  geometry: {
    type: 'Polygon',
    coordinates: [
      [
        [x0, 0],
        [x1, 0],
        [x1, 12],
        [x0, 12],
        [x0, 0]
      ]
    ]
  }
})
const site = parseSite({ ...file, features: [...file.features.filter(f => f.properties.kind === 'sensor'), shop('west', 0, 10), shop('east', 10, 20)] })
const T0 = Date.UTC(2026, 10, 2, 9)
const MIN = 60_000

/** One burst of a phone with a global (vendor) address at (x, y): its own device, never linked to another. */
const burst = (p: People, mac: string, x: number, y: number, ts: number): void => wifiBurst(p, site, mac, x, y, ts)

/** A new phone's one loud burst at (x, y) at ts: whether it counted as a visitor. */
function single(p: People, mac: string, x: number, y: number, ts: number, where: string): boolean {
  const before = p.visitors(ts).wifiVisitors
  burst(p, mac, x, y, ts)
  p.now(ts + 2000, [], [], 0)
  const d = [...p.wifi.devices].find(d => d.address === mac)
  assert.ok(d?.last.shop === where && d.last.maxRssi >= -55, `placed in ${where} and loud: ${d?.last.shop} ${d?.last.x.toFixed(1)},${d?.last.y.toFixed(1)} ${d?.last.maxRssi} dBm`)
  return p.visitors(ts + 2000).wifiVisitors > before
}

test('shoppers coming in at one shop make no loud single burst a visitor at a new patch of the shop next door', () => {
  const p = new People(site, wifiModels(site), peopleOptions(site, { coldQuietMs: 0 }), mac => `h:${mac}`)
  let ts = T0
  for (let i = 0; i < 20; i++, ts += 2 * MIN) {
    burst(p, `h:west-${i}`, 4, 8, ts)
    p.now(ts + 2000, [], [], 0)
    burst(p, `h:west-${i}`, 4, 5, ts + MIN)
    p.now(ts + MIN + 2000, [], [], 0)
  }
  p.now(ts + 5 * MIN, [], [], 0)
  assert.equal(p.visitors(ts + 5 * MIN).wifiVisitors, 20)
  assert.equal(single(p, 'h:east', 16, 8, ts + 6 * MIN, 'east'), false, 'the east shop has learned nothing')
  assert.equal(single(p, 'h:west-new', 6, 7.5, ts + 7 * MIN, 'west'), true, "the west shop's newcomers came in")
})
