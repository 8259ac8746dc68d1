// Today's visitors, their hours and Wi-Fi visitors' dwell survive a gateway restart (issue 32): kept
// in the gateway's SQLite state by the store's local day, a restart the same day continues them,
// a new day starts from zero, and a saved state that does not read as a day's counts is left.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewayStore } from '../../gateway/io/store.ts'
import { PeopleDay } from '../../gateway/presence/people-day.ts'
import { run, siteFile, T0, type Phone } from '../helpers/people-run.ts'

const DAY = 86_400_000
const phone = (n: number, untilS?: number): Phone => ({ x: 4 + 3 * n, y: 3 + n, macs: () => `00:11:22:33:55:0${n}`, ...(untilS !== undefined ? { untilS } : {}) })

test('a restart the same day continues the visitors, their hours and the dwell (repro: they started again from zero)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'people-restart-'))
  // Three visitors before the restart; the first leaves after 5 minutes (its dwell is timed once
  // it has been gone longer than a shopper's gap: presence and link gap, 8.5 minutes).
  const first = run([phone(1, 300), phone(2), phone(3)], 15, 60, undefined, dir)
  const before = first.foot[first.foot.length - 1]
  assert.equal(before.visitors, 3, JSON.stringify(before))
  assert.equal(before.dwell?.n, 1, JSON.stringify(before.dwell))
  // The gateway restarts on the same state 8 minutes later; two new visitors come.
  const again = run([phone(4), phone(5)], 6, 60, undefined, dir, T0 + 20 * 60_000)
  const after = again.foot[again.foot.length - 1]
  assert.equal(after.visitors, 5, JSON.stringify(after))
  assert.equal(after.wifiVisitors, 5)
  // The boutique is in Berlin: 09:00 UTC is its 10 o'clock.
  assert.deepEqual(after.visitorsByHour, { '10': 5 })
  assert.equal(after.dwell?.n, 1, 'the dwell timed before the restart is kept')
  // The next day starts from zero, restart or not.
  const tomorrow = run([phone(2)], 4, 60, undefined, dir, T0 + DAY)
  assert.equal(tomorrow.foot[tomorrow.foot.length - 1].visitors, 1, JSON.stringify(tomorrow.foot[tomorrow.foot.length - 1]))
})

test('a kept day that does not read as one is left and the day counts from zero', () => {
  const date = new Date(T0).toISOString().slice(0, 10)
  const cases: Array<{ name: string; state: string; key?: string }> = [
    { name: 'not JSON', state: '{"v":1,' },
    { name: 'another version', state: JSON.stringify({ v: 2, wifi: 9, ble: 0, app: 0, byHour: {}, dwellsS: [] }) },
    { name: 'a negative count', state: JSON.stringify({ v: 1, wifi: -9, ble: 0, app: 0, byHour: {}, dwellsS: [] }) },
    { name: 'an hour that is none', state: JSON.stringify({ v: 1, wifi: 9, ble: 0, app: 0, byHour: { x: 1 }, dwellsS: [] }) },
    { name: 'another day', state: JSON.stringify({ v: 1, wifi: 9, ble: 0, app: 0, byHour: {}, dwellsS: [] }), key: '2026-11-01' }
  ]
  for (const c of cases) {
    const dir = mkdtempSync(join(tmpdir(), 'people-restart-'))
    const store = new GatewayStore(dir)
    store.saveLearned('people-day', c.key ?? date, c.state, T0 - 60_000)
    store.close()
    const r = run([phone(1)], 4, 60, undefined, dir)
    assert.equal(r.foot[r.foot.length - 1].visitors, 1, `${c.name}: ${JSON.stringify(r.foot[r.foot.length - 1])}`)
  }
})

test("a stop saves what changed since the last save: a visitor counted in the stop's last seconds is kept", () => {
  const saved: string[] = []
  const keeper = { saveLearned: (_n: string, _k: string, state: string) => saved.push(state), loadLearned: () => null }
  const day = new PeopleDay('Europe/Berlin', keeper)
  day.roll(T0)
  day.wifi = 1
  day.changed()
  day.save(T0)
  // Counted 3 s later: within the save interval, so not saved yet.
  day.wifi = 2
  day.changed()
  day.save(T0 + 3_000)
  assert.equal((JSON.parse(saved[saved.length - 1]) as { wifi: number }).wifi, 1)
  day.flush()
  assert.equal((JSON.parse(saved[saved.length - 1]) as { wifi: number }).wifi, 2, 'saved at the stop')
})

test('who was counted today survives a restart the same day: a Wi-Fi phone, an app phone and an anonymous BLE device present across it count once (repro: each counted again); erased with its subject', () => {
  const dir = mkdtempSync(join(tmpdir(), 'people-restart-'))
  const file = { ...siteFile, zones: { ...siteFile.zones, shopHoldS: 0, shopEnterOdds: 0 } }
  const present: Phone[] = [
    { x: 5, y: 3, macs: () => '00:11:22:33:66:01' },
    { x: 15, y: 8, ble: 'tag:0000cafe' },
    { x: 10, y: 9, ble: '5a:11:22:33:44:66' }
  ]
  const first = run(present, 6, 60, file, dir)
  const before = first.foot[first.foot.length - 1]
  assert.deepEqual([before.wifiVisitors, before.appVisitors, before.bleVisitors], [1, 1, 1], JSON.stringify(before))
  // The gateway restarts on the same state 4 minutes later; all three are still there, and one more phone comes.
  const again = run([...present, { x: 12, y: 4, macs: () => '00:11:22:33:66:02' }], 6, 60, file, dir, T0 + 10 * 60_000)
  const after = again.foot[again.foot.length - 1]
  assert.deepEqual([after.wifiVisitors, after.appVisitors, after.bleVisitors, after.visitors], [2, 1, 1, 4], JSON.stringify(after))
  // Kept by subject (addresses hashed, no MAC; the app phone by its app id, as its visits are), erased with it.
  const store = new GatewayStore(dir)
  const key = store.loadLearned('people-day')?.key ?? ''
  const kept = store.counted(key, 100)
  assert.equal(kept.length, 4, JSON.stringify(kept))
  assert.ok(
    kept.every(s => !/00:11:22|5a:11/i.test(s)),
    JSON.stringify(kept)
  )
  store.erase(kept[0])
  assert.deepEqual(store.counted(key, 100).sort(), kept.slice(1).sort())
  store.close()
})
