// People now (gateway/presence/people.ts, people-beyond.ts): a device whose bursts the solver
// placed just beyond a wall counts by what the devices first placed at that patch turned out to be.
// Repro (seed 19 of bench/people.ts, day 1): shoppers at the back and the sides of the boutique,
// whose bursts landed beyond the back or a side wall (where nobody walks), were counted as
// passers-by, 1.4 people of the open hours' 17.9 on average; the street's passers-by fill the
// patches in front, and those stay out.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile, parseSite } from '../../shared/site.ts'
import { People, peopleOptions, wifiModels } from '../../gateway/presence/people.ts'
import { newcomers, wifiBurst } from '../helpers/wifi-burst.ts'

const site = parseSite(loadSiteFile('sites/boutique.site.json').file)
const T0 = Date.UTC(2026, 10, 2, 9)
const MIN = 60_000

/** One burst of a phone with a global (vendor) address at (x, y): its own device, never linked to another. */
const burst = (p: People, mac: string, x: number, y: number, ts: number): void => wifiBurst(p, site, mac, x, y, ts)

/** Newcomers first placed at (x, y): each comes inside 60 s later, twice (settled, a visitor: one burst inside is no evidence where none came in twice, people-inside.ts), or is never heard again. */
const traffic = (p: People, at: [number, number], n: number, comeIn: boolean, from: number): number => newcomers(p, site, at, n, comeIn, from, 2)

test('a burst beyond the back wall, where newcomers turned out to be shoppers, counts; one on the street, where they passed, does not', () => {
  const p = new People(site, wifiModels(site), peopleOptions(site, { coldQuietMs: 0 }), mac => `h:${mac}`)
  const back: [number, number] = [10, 14]
  const street: [number, number] = [10, -4]
  let t = traffic(p, back, 20, true, T0)
  t = traffic(p, street, 20, false, t)
  // A new phone placed beyond the back wall, and one on the street.
  burst(p, 'h:new-back', ...back, t + 10_000)
  const atBack = p.now(t + 12_000, [], [], 0)
  const dBack = [...p.wifi.devices].find(d => d.address === 'h:new-back')
  assert.equal(dBack?.last.shop, null, `placed at ${dBack?.last.x.toFixed(1)},${dBack?.last.y.toFixed(1)}: outside`)
  // 20 of 20 came in, against a prior of none weighing 5: 0.8 of a person, 1 in the range.
  assert.deepEqual([atBack.shops.boutique, atBack.high.shops.boutique, atBack.passersBy], [1, 1, 0], JSON.stringify(atBack))
  burst(p, 'h:new-street', ...street, t + 20_000)
  const both = p.now(t + 22_000, [], [], 0)
  assert.deepEqual([both.shops.boutique, both.passersBy], [1, 1], JSON.stringify(both))
  // Not a visitor for it: a device never placed inside is not one.
  assert.equal(p.visitors(t + 22_000).wifiVisitors, 40 - 20, 'the 20 shoppers only')
})

test('a patch where newcomers stay outside (an always-on device in a back room) adds nothing', () => {
  const p = new People(site, wifiModels(site), peopleOptions(site, { coldQuietMs: 0 }), mac => `h:${mac}`)
  const back: [number, number] = [10, 14]
  // Devices first placed beyond the back wall that stay there, heard for a few minutes, never inside.
  let ts = T0
  for (let i = 0; i < 20; i++) {
    for (let k = 0; k < 3; k++) burst(p, `h:backroom-${i}`, ...back, ts + k * MIN)
    p.now(ts + 2000, [], [], 0)
    ts += 10 * MIN
    p.now(ts, [], [], 0)
  }
  burst(p, 'h:new-back', ...back, ts + 10_000)
  const now = p.now(ts + 12_000, [], [], 0)
  assert.deepEqual([now.shops.boutique, now.passersBy], [0, 1], JSON.stringify(now))
})
