// Who was counted today and the day's counts are saved together (reviewer, s7): a gateway killed
// between two saves used to find visitors in people_counted whose counts were never saved (never
// counted that day), and a visitor taken back (a fixture, a flooding sender's) kept its row.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewayStore } from '../../gateway/io/store.ts'
import { PeopleDay } from '../../gateway/presence/people-day.ts'

const T0 = Date.UTC(2026, 5, 1, 10)

const open = (dir: string, t: number) => {
  const store = new GatewayStore(dir)
  const day = new PeopleDay('UTC', store)
  day.place = 'boutique-1'
  day.roll(t)
  return { store, day }
}

test('a crash between saves: counted rows and counts agree on reopening (SIGKILL-like: no final save)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'people-day-crash-'))
  const a = open(dir, T0)
  a.day.markCounted('wifi:a')
  a.day.wifi++
  a.day.save(T0)
  // Counted after the last save, and the gateway dies before the next one (within saveEveryMs).
  a.day.markCounted('wifi:b')
  a.day.wifi++
  a.day.save(T0 + 1_000)
  a.store.close()
  const b = open(dir, T0 + 60_000)
  assert.equal(b.day.restored, true)
  assert.equal(b.day.wifi, 1, 'the counts saved once, with a')
  assert.equal(b.day.countedBefore('wifi:a'), true)
  assert.equal(b.day.countedBefore('wifi:b'), false, 'b is in neither: counted again when heard')
  b.store.close()
})

test('a visitor taken back loses its counted row with the next save', () => {
  const dir = mkdtempSync(join(tmpdir(), 'people-day-uncount-'))
  const cases: Array<{ name: string; savedFirst: boolean }> = [
    { name: 'its row already written', savedFirst: true },
    { name: 'its row still waiting for a save', savedFirst: false }
  ]
  let t = T0
  for (const c of cases) {
    const subject = `ble:${c.name}`
    const a = open(dir, t)
    a.day.markCounted(subject)
    a.day.ble++
    if (c.savedFirst) a.day.save(t, true)
    a.day.unmarkCounted(subject)
    a.day.ble--
    a.day.flush()
    a.store.close()
    t += 60_000
    const b = open(dir, t)
    assert.equal(b.day.countedBefore(subject), false, c.name)
    b.store.close()
  }
})
