// Daily visitors (gateway/presence/people.ts, people-inside.ts): one loud burst inside counts as a
// visitor only where newcomers first placed there turned out to come in. Repro (bench/people.ts,
// the empty room: nobody in it, a street outside): passers-by's loud bursts placed 0-4 m inside the
// front wall were counted as visitors, 17 of 18 on seed 19's second day, 27 of 31 on seed 23's.
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

/** Newcomers whose one burst inside lands at (x, y), one every 2 min: each bursts inside again 60 s later (shoppers), or is never heard again (passers-by). */
const traffic = (p: People, at: [number, number], n: number, comeIn: boolean, from: number): number => newcomers(p, site, at, n, comeIn, from)

function people(): People {
  return new People(site, wifiModels(site), peopleOptions(site, { coldQuietMs: 0 }), mac => `h:${mac}`)
}

/** A new phone's one loud burst at (x, y) at ts: whether it counted as a visitor. */
function single(p: People, mac: string, at: [number, number], ts: number): boolean {
  const before = p.visitors(ts).wifiVisitors
  burst(p, mac, ...at, ts)
  p.now(ts + 2000, [], [], 0)
  const d = [...p.wifi.devices].find(d => d.address === mac)
  assert.ok(d?.last.shop === 'boutique' && d.last.maxRssi >= -55, `placed inside and loud: ${d?.last.x.toFixed(1)},${d?.last.y.toFixed(1)} ${d?.last.maxRssi} dBm`)
  return p.visitors(ts + 2000).wifiVisitors > before
}

test('one loud burst inside is a visitor where newcomers placed there came in, not at the edge the street gives passers-by', () => {
  const p = people()
  const front: [number, number] = [10, 1.5]
  const deep: [number, number] = [4, 8]
  let t = traffic(p, front, 20, false, T0)
  t = traffic(p, deep, 20, true, t)
  const shoppers = p.visitors(t).wifiVisitors
  assert.equal(shoppers, 20, 'the 20 newcomers who came in')
  assert.equal(single(p, 'h:new-front', front, t + 10_000), false, 'a loud single at the front, where 20 of 20 passed')
  assert.equal(single(p, 'h:new-deep', deep, t + 20_000), true, 'a loud single further in, where 20 of 20 came in')
})

test('with nothing learned yet a loud single burst is no evidence of a visit; its second burst inside is', () => {
  const p = people()
  assert.equal(single(p, 'h:first', [4, 8], T0), false)
  burst(p, 'h:first', 10, 6, T0 + MIN)
  p.now(T0 + MIN + 2000, [], [], 0)
  assert.equal(p.visitors(T0 + MIN + 2000).wifiVisitors, 1)
})

test('a patch not learned yet takes what loud singles anywhere in the shop turned out to be: the first shoppers at a new patch count', () => {
  const p = people()
  // Open hours: newcomers at one patch come in (20 of 20); a loud single at another patch, never seen before.
  const t = traffic(p, [4, 8], 20, true, T0)
  assert.equal(single(p, 'h:elsewhere', [16, 8], t + 10_000), true, 'the shop says newcomers come in')
  // A night of passers-by at the front: the shop says they pass, and a new patch reads so too.
  const q = people()
  const u = traffic(q, [10, 1.5], 20, false, T0)
  assert.equal(single(q, 'h:night', [16, 8], u + 10_000), false, 'the shop says loud singles pass')
})
