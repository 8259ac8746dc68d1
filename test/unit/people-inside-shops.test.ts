// Where one loud burst inside is evidence of a visit (gateway/presence/people-inside.ts), on a site of
// two shops (issue 32 review): a patch with few outcomes yet is drawn towards its own shop's recent
// loud single bursts, not the whole site's. Repro: the prior was one for the site, so 20 shoppers
// coming in at one shop made a single loud burst at a new patch of the other shop a visitor (share
// 0.8), and 20 passers-by at the other shop made one at a new patch of the first no visitor (0.44).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { InsideOdds } from '../../gateway/presence/people-inside.ts'
import type { Burst, WifiDevice } from '../../gateway/presence/wifi-device-types.ts'

const PRESENCE_MS = 300_000
const MIN = 60_000

function at(shop: string, floor: number, x: number, y: number): Burst {
  return { ts: 0, x, y, floor, shop, sector: null, maxRssi: -45, depth: 5, seq: null, fp: null, sensor: 's' }
}

/** n newcomers first placed at b, one a minute: each bursts inside again (comeIn) or is never heard again. */
function traffic(odds: InsideOdds, b: Burst, n: number, comeIn: boolean, from: number): number {
  let t = from
  for (let i = 0; i < n; i++, t += MIN) {
    // Only what the rule reads of a device: its bursts inside and its last one's time.
    const d = { inShop: 1, lastTs: t } as WifiDevice
    odds.watch(d, b)
    if (comeIn) d.inShop = 2
    odds.settle(t + 1000)
  }
  odds.settle(t + PRESENCE_MS + MIN)
  return t + PRESENCE_MS + MIN
}

const cases: Array<{ name: string; learn: { b: Burst; comeIn: boolean }; single: Burst; visit: boolean }> = [
  {
    name: "shoppers at the ground floor's shop say nothing of a new patch upstairs",
    learn: { b: at('ground', 0, 4, 8), comeIn: true },
    single: at('upper', 1, 16, 8),
    visit: false
  },
  { name: 'and still make a new patch of their own shop evidence', learn: { b: at('ground', 0, 4, 8), comeIn: true }, single: at('ground', 0, 16, 8), visit: true },
  {
    name: 'the same patch of ground in another shop (a patch across their wall) is that shop’s',
    learn: { b: at('ground', 0, 4, 8), comeIn: true },
    single: at('upper', 0, 4, 8),
    visit: false
  }
]

for (const c of cases) {
  test(c.name, () => {
    const odds = new InsideOdds(PRESENCE_MS)
    traffic(odds, c.learn.b, 20, c.learn.comeIn, 0)
    assert.equal(odds.evidence(c.single), c.visit)
  })
}

test("passers-by at one shop's front do not turn a new patch of the other shop against its own shoppers", () => {
  const odds = new InsideOdds(PRESENCE_MS)
  let t = traffic(odds, at('ground', 0, 4, 8), 20, true, 0)
  t = traffic(odds, at('upper', 1, 10, 1), 30, false, t)
  assert.equal(odds.evidence(at('ground', 0, 16, 8)), true, "the ground floor's shoppers came in")
  assert.equal(odds.evidence(at('upper', 1, 16, 8)), false, 'upstairs, loud singles passed')
})
