// Outside tester's defect 6: after an erasure the rows left the tables, but the write-ahead log
// (gateway.sqlite-wal) still held them until some later checkpoint. The erasure now ends by
// copying the log back and truncating it: no byte of the subject is left in either file while the
// gateway runs (closing would checkpoint anyway, so the files are read with the store open).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { GatewayStore } from '../../gateway/io/store.ts'
import { waitFor } from '../helpers/gateway.ts'

const T = 1764000000000
const GONE = 'h:00ff11aa22bb33cc'
const KEPT = 'h:77ee66dd55cc44bb'

test('an erased subject leaves no byte in the database file or its write-ahead log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'erasure-wal-'))
  const store = new GatewayStore(dir)
  try {
    for (let i = 0; i < 60; i++) {
      for (const s of [GONE, KEPT]) {
        store.openVisit(`v-${s}-${i}`, s, 'shop-1', T + i * 60_000)
        store.closeVisit(`v-${s}-${i}`, T + i * 60_000 + 30_000, ['women'])
        store.addEvent(`e-${s}-${i}`, 'shop.enter', T + i * 60_000, JSON.stringify({ subject: s, shop: 'shop-1' }))
        store.setCap('c1', s, T + i * 60_000, `v-${s}-${i}`, i)
      }
    }
    const wal = join(dir, 'gateway.sqlite-wal')
    const bytes = (f: string) => (existsSync(f) ? readFileSync(f).toString('latin1') : '')
    assert.ok(bytes(wal).includes('00ff11'), 'the log held the subject before the erasure (the test sees what it checks)')
    assert.ok(store.erase(GONE) > 0)
    for (const f of [wal, join(dir, 'gateway.sqlite')]) assert.equal(bytes(f).split('00ff11').length - 1, 0, `${f} still holds the erased subject`)
    // The rest is intact.
    assert.equal(store.history(KEPT, T + 3_600_000).visits7d, 60)
    assert.equal(store.unsent(1000).length, 60)
  } finally {
    store.close()
  }
})

test('an erasure deletes the subject from the dead letters too, and a reader blocking the checkpoint only delays it', async () => {
  // The second outside tester: dead letters (events the central server refused, whole bodies)
  // survived an erasure; and with another reader open the checkpoint answered busy, unseen.
  const dir = mkdtempSync(join(tmpdir(), 'erasure-dead-'))
  const store = new GatewayStore(dir)
  const reader = new Database(join(dir, 'gateway.sqlite'), { readonly: true })
  try {
    for (let i = 0; i < 20; i++) for (const s of [GONE, KEPT]) store.addEvent(`e-${s}-${i}`, 'shop.enter', T + i * 60_000, JSON.stringify({ subject: s, shop: 'shop-1' }))
    for (const row of store.unsent(1000)) store.deadLetter(row, 400, 'refused for test', T)
    assert.equal(store.deadLetterCount(), 40)
    // A read transaction held open, as an operator's sqlite3 session or a backup would.
    reader.exec('BEGIN')
    reader.prepare('SELECT COUNT(*) FROM dead_letters').get()
    store.erase(GONE)
    assert.equal(store.deadLetterCount(), 20, "the erased subject's dead letters are gone")
    assert.ok(store.checkpointsPending > 0, 'the blocked checkpoint is known')
    reader.exec('COMMIT')
    const wal = join(dir, 'gateway.sqlite-wal')
    const bytes = (f: string) => (existsSync(f) ? readFileSync(f).toString('latin1') : '')
    await waitFor(() => store.checkpointsPending === 0, 10_000, 'the checkpoint to be tried again')
    for (const f of [wal, join(dir, 'gateway.sqlite')]) assert.equal(bytes(f).split('00ff11').length - 1, 0, `${f} still holds the erased subject`)
  } finally {
    reader.close()
    store.close()
  }
})
