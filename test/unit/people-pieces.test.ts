// Today's visitors held as a rotating fixture's possible pieces (gateway/presence/people-pieces.ts):
// an erasure, a visitor at the cap and a device dropped during an erasure cost no read of the whole
// list (erasures arrive one subject at a time, on the broker's thread); yesterday's go once.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DayPieces } from '../../gateway/presence/people-pieces.ts'
import type { WifiDevice } from '../../gateway/presence/wifi-device-types.ts'

const TODAY = '2026-12-07'

function visitor(address: string, day = TODAY, x = 0): WifiDevice {
  return {
    address,
    stable: false,
    fp: 'ie0001',
    flood: false,
    countedDay: day,
    bursts: 1,
    sumX: x,
    sumY: 0,
    last: { floor: 0 },
    firstTs: 0,
    lastTs: 0
  } as Partial<WifiDevice> as WifiDevice
}
const spot = { fp: 'ie0001', floor: 0, x: 0, y: 0 } as Parameters<DayPieces['of']>[0]

test('50,000 held and 20,000 erasures, each dropping a held device: no whole-list read', () => {
  const p = new DayPieces()
  const live = Array.from({ length: 20_000 }, (_, i) => visitor(`app:${i}`))
  for (const d of live) p.counted(d, TODAY)
  for (let i = 0; i < 30_000; i++) p.counted(visitor(`h:${i}`), TODAY)
  const before = p.swept
  const t0 = process.cpuUsage()
  for (let i = 0; i < 20_000; i++) {
    p.erase(`h:${i}`, () => p.drop(live[i]))
    // A hang guard only, checked as it goes so the old whole-list filters (minutes here) fail fast.
    if (i % 100 === 0) {
      const t = process.cpuUsage(t0)
      assert.ok(t.user + t.system < 5_000_000, `${i} erasures took over 5 s of CPU`)
    }
  }
  assert.equal(p.swept, before, 'an erasure reads only what it forgets')
  assert.equal(p.size, 10_000)
})

test('visitors beyond the cap, all of today: a sweep once per many, not per visitor', () => {
  const p = new DayPieces()
  for (let i = 0; i < 50_000; i++) p.counted(visitor(`h:${i}`), TODAY)
  const before = p.swept
  for (let i = 0; i < 10_000; i++) p.counted(visitor(`n:${i}`), TODAY)
  assert.equal(p.size, 50_000)
  assert.ok(p.swept - before <= 2 * 50_000, `${p.swept - before} held read for 10,000 visitors`)
})

test("yesterday's visitors go at the first count of a new day; one taken back is not a piece", () => {
  const p = new DayPieces()
  const old = visitor('h:old', '2026-12-06')
  p.counted(old, '2026-12-06')
  p.counted(visitor('h:new'), TODAY)
  assert.equal(p.size, 1)
  const taken = visitor('h:taken')
  p.counted(taken, TODAY)
  taken.countedDay = ''
  assert.deepEqual(
    p.of(spot, 5, TODAY).map(d => d.address),
    ['h:new']
  )
})

test('an erasure forgets a device dropped before under the address, one the linker drops, and no other', () => {
  const p = new DayPieces()
  const idle = visitor('h:a')
  const moved = visitor('h:b')
  const live = visitor('h:c')
  const other = visitor('h:d')
  for (const d of [idle, moved, live, other]) p.counted(d, TODAY)
  // A linker device changes its address while held, then goes idle: found by its last address.
  moved.address = 'h:b2'
  p.drop(moved)
  p.drop(idle)
  p.erase('h:a', () => {})
  p.erase('h:b2', () => {})
  p.erase('h:x', () => p.drop(live))
  assert.equal(p.size, 1)
  assert.deepEqual(
    p.of(spot, 5, TODAY).map(d => d.address),
    ['h:d']
  )
})
