// Defects 6 and 7 of the s7 outside tester's server list. 6: withdrawing presence consent or erasing
// read every stored entry of the shopper and deleted open rows one statement per entry, inside the
// transaction holding the device row. Open rows now carry their subject: closing them is a few
// statements whatever the history. 7: migration 009's backfill paged with OFFSET and made two or
// three round trips per event; it now pages by key and writes each page in a few statements, with
// the same rows as storing each event in time order. Both are checked by the statements they
// issue (counted by a Kysely plugin), never by time.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely'
import { openData, type DataStore } from '../../server/db/db.ts'
import { closeOpenRowsOf, replayVisits, storeEvents, type EventRow } from '../../server/db/rollups.ts'
import { backfillOpenRowSubjects } from '../../server/db/migrations.ts'
import { serverDb, TEST_ENGINE } from '../helpers/postgres.ts'

/** Counts the statements run through it. */
class Statements implements KyselyPlugin {
  n = 0
  transformQuery(a: PluginTransformQueryArgs): RootOperationNode {
    this.n++
    return a.node
  }
  async transformResult(a: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return a.result
  }
}

const opened: DataStore[] = []
after(async () => {
  for (const d of opened) await d.close()
})
async function data(prefix: string): Promise<DataStore> {
  const dataDir = mkdtempSync(join(tmpdir(), prefix))
  const d = await openData({ dataDir, ...(await serverDb(dataDir)) })
  opened.push(d)
  return d
}

const T0 = Date.now() - 3_600_000
let n = 0
function event(store: string, type: string, subject: string, ts: number, body: Record<string, unknown>): EventRow {
  const id = `OR${++n}`
  return { id, store_id: store, type, subject, ts, received: ts + 5, body: JSON.stringify({ id, type, storeId: store, subject, ts, ...body }) }
}

test(`closing a subject's open rows costs the same few statements with 20 or 2,000 stored entries (${TEST_ENGINE})`, async () => {
  const d = await data('open-rows-')
  const history = (subject: string, entries: number) => [
    event('s1', 'shop.enter', subject, T0, { visitId: `${subject}-v`, shop: 'boutique' }),
    event('s1', 'sector.enter', subject, T0 + 1, { visitId: `${subject}-v`, shop: 'boutique', sector: 'women' }),
    // Stays of visits whose entry was never stored, and one keyed on the subject (no visit id).
    ...Array.from({ length: entries }, (_, i) => event('s2', 'sector.enter', subject, T0 + 2 + i, { visitId: `${subject}-w${i}`, sector: 'men' })),
    event('s2', 'sector.enter', subject, T0, { sector: 'new' })
  ]
  await d.db.transaction().execute(async trx => {
    await storeEvents(trx, [...history('few', 20), ...history('many', 2000), ...history('other', 3)])
  })
  const open = async (subject: string) =>
    Number(
      (
        await d.db
          .selectFrom('an_open_visits')
          .select(eb => eb.fn.countAll().as('n'))
          .where('subject', '=', subject)
          .executeTakeFirstOrThrow()
      ).n
    ) +
    Number(
      (
        await d.db
          .selectFrom('an_open_stays')
          .select(eb => eb.fn.countAll().as('n'))
          .where('subject', '=', subject)
          .executeTakeFirstOrThrow()
      ).n
    )
  assert.deepEqual([await open('few'), await open('many'), await open('other')], [23, 2003, 6])
  const cost: number[] = []
  for (const [subject, rows] of [
    ['few', 23],
    ['many', 2003]
  ] as const) {
    const counted = new Statements()
    const closed = await d.db.transaction().execute(trx => closeOpenRowsOf(trx.withPlugin(counted), subject))
    assert.equal(closed, rows)
    assert.equal(await open(subject), 0)
    cost.push(counted.n)
  }
  assert.equal(cost[0], cost[1], `statements with 20 and 2,000 entries: ${cost.join(', ')}`)
  assert.ok(cost[0] <= 6, `${cost[0]} statements`)
  assert.equal(await open('other'), 6, "another subject's rows stay")
})

test(`migration 009's backfill gives the rows of the per-event replay, in a few statements per page (${TEST_ENGINE})`, async () => {
  const d = await data('backfill-')
  const events: EventRow[] = []
  // Two stores; entries (some twice, some without a visit id), exits (some first, some without a
  // visit id), several events sharing a time across page boundaries.
  for (let i = 0; i < 1500; i++) {
    const store = i % 3 === 0 ? 's2' : 's1'
    const subject = `sub${i % 400}`
    const visitId = `v${i}`
    const ts = T0 + Math.floor(i / 4) * 10
    const segment = ['first', 'returning', 'regular'][i % 3]
    const entry = { visitId, shop: 'boutique', frequency: { segment } }
    if (i % 11 !== 0) events.push(event(store, 'shop.enter', subject, ts, i % 17 === 0 ? { shop: 'boutique' } : entry))
    if (i % 5 === 0) events.push(event(store, 'shop.enter', subject, ts + 3, { ...entry, frequency: { segment: 'lapsed' } }))
    if (i % 2 === 0) events.push(event(store, 'shop.exit', subject, i % 7 === 0 ? ts - 4 : ts + 7, { visitId, durationMs: 7 }))
    if (i % 13 === 0) events.push(event(store, 'shop.exit', subject, ts + 8, {}))
  }
  events.sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : 1))
  // The per-event path: what storing the events one by one in time order leaves.
  for (let i = 0; i < events.length; i += 500) await d.db.transaction().execute(trx => storeEvents(trx, events.slice(i, i + 500)))
  const visits = () => d.db.selectFrom('visits').selectAll().orderBy(['store_id', 'subject', 'visit_id']).execute()
  const openRows = () => d.db.selectFrom('an_open_visits').select(['store_id', 'visit_id', 'shop', 'ts']).orderBy(['store_id', 'visit_id']).execute()
  const want = { visits: await visits(), open: await openRows() }
  assert.ok(want.visits.length > 1000 && want.open.length > 100, `${want.visits.length} visits, ${want.open.length} open`)
  // As migration 009 finds a database: no visits table rows, an open row for every visit's first
  // entry (migration 002's replay, which ran before the visits table existed).
  await d.db.deleteFrom('visits').execute()
  await d.db.deleteFrom('an_open_visits').execute()
  for (const e of events.filter(x => x.type === 'shop.enter')) {
    const b = JSON.parse(e.body) as { visitId?: string; shop: string }
    await d.db
      .insertInto('an_open_visits')
      .values({ store_id: e.store_id, visit_id: b.visitId ?? e.id, shop: b.shop, ts: e.ts, subject: null })
      .onConflict(oc => oc.doNothing())
      .execute()
  }
  const counted = new Statements()
  await d.db.transaction().execute(trx => replayVisits(trx.withPlugin(counted), 250))
  assert.deepEqual({ visits: await visits(), open: await openRows() }, want)
  assert.ok(counted.n < events.length / 20, `${counted.n} statements for ${events.length} events`)
})

// The s7 reviewer: an open row stored before migration 011 (no subject) whose visit has no visits
// row was never closed at withdrawal or erasure. Migration 011 now gives it its entry's subject.
test(`open rows from before migration 011 without a visits row get their subject and are closed (${TEST_ENGINE})`, async () => {
  const d = await data('open-rows-old-')
  await d.db.transaction().execute(async trx => {
    await storeEvents(trx, [
      event('s1', 'shop.enter', 'old', T0, { visitId: 'old-v', shop: 'boutique' }),
      event('s1', 'sector.enter', 'old', T0 + 1, { visitId: 'old-v', shop: 'boutique', sector: 'women' }),
      event('s1', 'shop.enter', 'keep', T0, { visitId: 'keep-v', shop: 'boutique' })
    ])
  })
  // As before migration 011, with the visits rows gone (never written, or dropped by retention).
  for (const t of ['an_open_visits', 'an_open_stays'] as const) await d.db.updateTable(t).set({ subject: null }).execute()
  await d.db.deleteFrom('visits').execute()
  assert.equal(await closeOpenRowsOf(d.db, 'old'), 0, 'unreachable before the backfill')
  await backfillOpenRowSubjects(d.db)
  assert.equal(await closeOpenRowsOf(d.db, 'old'), 2)
  const left = await d.db.selectFrom('an_open_visits').select(['visit_id', 'subject']).execute()
  assert.deepEqual(left, [{ visit_id: 'keep-v', subject: 'keep' }])
})
