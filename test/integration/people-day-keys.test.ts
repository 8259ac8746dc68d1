// A kept day belongs to one store and never holds its saves off (outside tester, s6): a data folder
// started with another site counts that store's visitors from zero, and a kept day stamped later
// than the clock (or a clock stepped back) does not block the periodic saves a SIGKILL relies on.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewayStore } from '../../gateway/io/store.ts'
import { PeopleDay, type DayKeeper } from '../../gateway/presence/people-day.ts'
import { run, siteFile, T0, type Phone } from '../helpers/people-run.ts'

const phone = (n: number): Phone => ({ x: 4 + 3 * n, y: 3 + n, macs: () => `00:11:22:33:66:0${n}` })

test("another store started on the same data folder counts today's visitors from zero (repro: it took over the old store's)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'people-day-keys-'))
  const first = run([phone(1), phone(2), phone(3)], 6, 60, siteFile, dir)
  assert.equal(first.foot[first.foot.length - 1].visitors, 3)
  const other = { ...siteFile, storeId: 'elsewhere-1' }
  const again = run([phone(4)], 4, 60, other, dir, T0 + 10 * 60_000)
  assert.equal(again.foot[again.foot.length - 1].visitors, 1, JSON.stringify(again.foot[again.foot.length - 1]))
  // The first store, back on its folder the same day, no longer finds its own day (the other's replaced it): from zero too.
  const back = run([phone(5)], 4, 60, siteFile, dir, T0 + 20 * 60_000)
  assert.equal(back.foot[back.foot.length - 1].visitors, 1)
})

/** A keeper holding one kept day, recording every save's event time. */
function keeper(kept: { key: string; state: string; ts: number } | null) {
  const saves: number[] = []
  const k: DayKeeper = {
    saveLearned: (_n, key, state, ts) => {
      saves.push(ts)
      kept = { key, state, ts }
    },
    loadLearned: () => kept
  }
  return { k, saves }
}

const state = JSON.stringify({ v: 1, wifi: 4, ble: 0, app: 0, byHour: {}, dwellsS: [] })
const date = new Date(T0).toISOString().slice(0, 10)

test('periodic saves go on whatever the kept stamp or the clock does (repro: a kept day stamped later blocked them)', () => {
  const cases: Array<{ name: string; keptTs: number; steps: number[] }> = [
    { name: 'a kept day stamped 6 h later than the clock', keptTs: T0 + 6 * 3_600_000, steps: [T0 + 1_000, T0 + 12_000, T0 + 24_000] },
    { name: 'the clock stepped back 6 h after a save', keptTs: T0 - 60_000, steps: [T0 + 6 * 3_600_000, T0 + 1_000, T0 + 12_000] }
  ]
  for (const c of cases) {
    const { k, saves } = keeper({ key: `boutique-1/${date}`, state, ts: c.keptTs })
    const day = new PeopleDay('UTC', k)
    day.place = 'boutique-1'
    for (const t of c.steps) {
      day.roll(t)
      day.wifi++
      day.changed()
      day.save(t)
    }
    assert.deepEqual(saves, c.steps, c.name)
  }
})

test('a kept day of another store, or kept without its store, is dropped with a warning; an earlier day of this store silently', () => {
  const cases: Array<{ key: string; misfit: boolean }> = [
    { key: `other-1/${date}`, misfit: true },
    { key: date, misfit: true },
    { key: 'boutique-1/2026-11-01', misfit: false },
    { key: `boutique-1/${date}`, misfit: false }
  ]
  for (const c of cases) {
    const { k } = keeper({ key: c.key, state, ts: T0 - 60_000 })
    const day = new PeopleDay('UTC', k)
    day.place = 'boutique-1'
    const warned: string[] = []
    day.onMisfit = saved => warned.push(saved)
    day.roll(T0)
    assert.deepEqual(warned, c.misfit ? [c.key] : [], c.key)
    assert.equal(day.restored, c.key === `boutique-1/${date}`, c.key)
    assert.equal(day.wifi, day.restored ? 4 : 0)
  }
})

test('a kept day stamped 6 h ahead: this run still saves its visitors as it goes, so a SIGKILL keeps them (real SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'people-day-keys-'))
  const before = new GatewayStore(dir)
  before.saveLearned('people-day', `boutique-1/${date}`, state, T0 + 6 * 3_600_000)
  before.close()
  // run() ends without a stop (no flush): what is kept is what the periodic saves wrote, as after a SIGKILL.
  const r = run([phone(1), phone(2)], 4, 60, siteFile, dir)
  assert.equal(r.foot[r.foot.length - 1].visitors, 6)
  const after = new GatewayStore(dir)
  try {
    const kept = after.loadLearned('people-day')
    assert.equal((JSON.parse(kept?.state ?? '{}') as { wifi?: number }).wifi, 6, JSON.stringify(kept))
  } finally {
    after.close()
  }
})
