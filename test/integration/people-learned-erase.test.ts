// An erasure and people counting's kept learning (people-learned.ts), found in review: the spot
// learned from an erased address goes from the `learned` row too, in the erasure's transaction and
// through the same writes that wait while the disk refuses them (repro: the row kept the address
// and a restart brought it back); and an erasure of many subjects rewrites the row once per slice,
// not once per subject (repro: 20,000 erasures serialised and wrote the whole state 20,000 times,
// stalling the broker's thread for over a minute). Real SQLite files, made full with `max_page_count`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadSiteFile, parseSite } from '../../shared/site.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { People, peopleOptions, wifiModels } from '../../gateway/presence/people.ts'
import { T0 } from '../helpers/people-run.ts'

const site = parseSite(loadSiteFile('sites/boutique.site.json').file)
const ERASED = 'h:00000000000000aa'
const kept = (store: GatewayStore): string => store.loadLearned('people-learned')?.state ?? ''

/** People counting on a store in a fresh directory, with a rotating fixture's spot learned from `addresses`, saved once. */
function start(dir: string, addresses: string[]): { store: GatewayStore; p: People } {
  const store = new GatewayStore(dir, 'gateway.sqlite', { maxOps: 200_000, maxBytes: 1 << 26, retryEveryMs: 0 })
  const p = new People(site, wifiModels(site), peopleOptions(site), mac => `h:${mac}`, store)
  p.wifi.spots.restoreChained({ fp: 'ie0002', floor: 0, x: 12, y: 4.5, until: T0 + 86_400_000, intervalMs: 120_000, addresses: new Set(addresses) })
  p.now(T0, [], [], 0)
  return { store, p }
}

/** Fills the file to its page limit until a write waits for the disk (write-retry.ts). */
function fill(store: GatewayStore): void {
  store.db.pragma(`max_page_count = ${store.db.pragma('page_count', { simple: true }) as number}`)
  for (let i = 0; store.retry.waiting === 0; i++) store.addEvent(`fill${i}`, 'shop.enter', T0, JSON.stringify({ subject: 'h:other', body: 'x'.repeat(4000) }))
}
const room = (store: GatewayStore): void => {
  store.db.pragma('max_page_count = 1000000')
  // The next transaction writes what waits first.
  store.transaction(() => store.keepCounted('h:other', '2026-11-02'))
}

for (const how of ['with its rows (GatewayStore.erase)', 'then a stop (flushDay)'] as const) {
  test(`an erasure while the disk refuses writes, ${how}: once the disk takes them again, the kept state no longer holds the address, nor after a restart`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'people-learned-erase-'))
    let { store, p } = start(dir, [ERASED, 'h:00000000000000bb'])
    assert.ok(kept(store).includes(ERASED), 'saved before the erasure')
    fill(store)
    p.forget(ERASED)
    if (how === 'then a stop (flushDay)') p.flushDay()
    else store.erase([ERASED], () => p.saveErased())
    assert.ok(store.retry.waiting > 0, 'still waiting for the disk')
    room(store)
    assert.equal(store.retry.waiting, 0)
    assert.equal(store.retry.droppedWrites, 0)
    assert.ok(!kept(store).includes(ERASED), `the kept row holds the erased address: ${kept(store).slice(0, 160)}`)
    store.close()
    store = new GatewayStore(dir)
    p = new People(site, wifiModels(site), peopleOptions(site), mac => `h:${mac}`, store)
    assert.equal(p.holds(ERASED), false, 'the erased address came back after a restart')
    store.close()
    rmSync(dir, { recursive: true, force: true })
  })
}

test('an erasure of 5,000 subjects rewrites the kept state once per slice that changed it, and not at all when none was in it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'people-learned-erase-'))
  const { store, p } = start(dir, [ERASED])
  const saves: string[] = []
  const save = store.saveLearned.bind(store)
  store.saveLearned = (name, key, state, ts, mustKeep) => {
    if (name === 'people-learned') saves.push(state)
    return save(name, key, state, ts, mustKeep)
  }
  const others = Array.from({ length: 5000 }, (_, k) => `h:ffff${k.toString(16).padStart(12, '0')}`)
  // The code this started from: a save per subject forgotten, 5,000 whole states written.
  for (const s of others) p.forget(s)
  assert.equal(saves.length, 0, 'saved as subjects were forgotten')
  await store.eraseInSlices(
    others,
    s => p.forget(s),
    () => p.saveErased()
  )
  assert.equal(saves.length, 0, 'no subject erased was in the kept state')
  // One slice of 2,000 holds the learned address: one save, in that slice's transaction.
  await store.eraseInSlices(
    [...others.slice(0, 1000), ERASED, ...others.slice(1000)],
    s => p.forget(s),
    () => p.saveErased()
  )
  assert.equal(saves.length, 1)
  assert.ok(!kept(store).includes(ERASED))
  // Nothing left to save: the next count does not save before its time.
  p.now(T0 + 60_000, [], [], 0)
  assert.equal(saves.length, 1)
  store.close()
  rmSync(dir, { recursive: true, force: true })
})

test('a periodic save the disk refused is tried again a minute later, not at the next save due 10 minutes on', () => {
  const dir = mkdtempSync(join(tmpdir(), 'people-learned-erase-'))
  const { store, p } = start(dir, ['h:00000000000000bb'])
  // Learned since the last save: a second spot.
  p.wifi.spots.restoreChained({ fp: 'ie0003', floor: 0, x: 3, y: 4.5, until: T0 + 86_400_000, intervalMs: 120_000, addresses: new Set(['h:00000000000000cc']) })
  fill(store)
  p.now(T0 + 600_000, [], [], 0)
  room(store)
  assert.ok(!kept(store).includes('ie0003'), 'saved while the disk refused')
  p.now(T0 + 660_000, [], [], 0)
  assert.ok(kept(store).includes('ie0003'), 'not saved once the disk took writes again')
  store.close()
  rmSync(dir, { recursive: true, force: true })
})
