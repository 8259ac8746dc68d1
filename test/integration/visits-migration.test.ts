// Migration 009 keeps what trigger vetting needs of each visit in the visits table: a database
// whose events were stored before it is filled once from them at the next start, so a visit open
// before the upgrade still takes its trigger, and one that ended stays ended.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'kysely'
import { buildServer } from '../../server/app.ts'
import { openData } from '../../server/db/db.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'
import { api } from '../helpers/procs.ts'
import { ROOT } from '../helpers/run.ts'
import { registerDevice } from '../helpers/replicas.ts'
import { enterFor, eventMaker } from '../helpers/visit.ts'

const ADMIN = 'adm_visits_migration'
const { ev, trig } = eventMaker('VM')

test('a database from before the visits table has it filled from its stored entries and exits at the next start', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'visits-migration-'))
  const start = async () => {
    const { app } = await buildServer(await onTestDb({ dataDir, log: silentLogger, adminToken: ADMIN }))
    return { app, url: await app.listen({ port: 0, host: '127.0.0.1' }) }
  }
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string }
  let s = await start()
  const gw = (await api<{ gatewayToken: string }>(`${s.url}/v1/stores`, ADMIN, 'POST', { site: { ...site, storeId: 's1' } })).body.gatewayToken
  const campaign = { id: 'm', stores: ['s1'], when: { event: 'sector.enter', sector: 'women' }, content: { title: 'M', ttlMin: 60 } }
  assert.equal((await api(`${s.url}/v1/campaigns`, ADMIN, 'POST', campaign)).status, 201)
  const d = await registerDevice(s.url)
  const open = trig('m', d.subject, { visitId: 'open' })
  const ended = trig('m', d.subject, { visitId: 'ended' })
  const exit = ev(d.subject, { type: 'shop.exit', sector: undefined, visitId: 'ended', ts: ended.ts - 500, durationMs: 500 })
  const post = async (events: unknown[]) => await api<{ refused?: Array<{ error: string }> }>(`${s.url}/v1/stores/s1/events`, gw, 'POST', { events })
  assert.equal((await post([enterFor(open, 'regular'), enterFor(ended), exit])).status, 200)
  await s.app.close()
  // As before migration 009: no visits table, and no record of it or of the later ones (which run again, idempotent).
  const data = await openData(await onTestDb({ dataDir }))
  await sql`DROP TABLE visits`.execute(data.db)
  await sql`DELETE FROM kysely_migration WHERE name >= '009_visits'`.execute(data.db)
  await data.close()
  s = await start()
  try {
    const r = await post([open, ended])
    assert.deepEqual([r.status, r.body.refused?.map(x => x.error)], [422, ['INSTORE_VISIT_CLOSED']])
  } finally {
    await s.app.close()
  }
})
