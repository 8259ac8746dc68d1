// Erasure of a device also deletes what a server from before the consent gate stored under its
// device id, in whichever spelling its phone and an old gateway used (any case, with or without
// dashes): those rows would otherwise outlive the device for good. Real server, this process's
// engine (INSTORE_TEST_DB=postgres for PostgreSQL); the old rows are written as that server did.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from '../../server/app.ts'
import { onTestDb, readServer } from '../helpers/postgres.ts'
import { silentLogger } from '../../shared/log.ts'
import { startGateway } from '../helpers/gateway.ts'
import { api } from '../helpers/procs.ts'

const ADMIN = 'adm_erasure_spellings'

test("erasing a device deletes the events stored under its device id in any spelling, and no one else's", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'erase-sp-'))
  const { app, ctx } = await buildServer(await onTestDb({ dataDir, log: silentLogger, adminToken: ADMIN }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  try {
    const g0 = await startGateway({ campaigns: [] })
    const site = g0.o.site
    await g0.stop()
    await api(`${url}/v1/stores`, ADMIN, 'POST', { site: site.file })
    const dev = (await api<{ deviceId: string; token: string }>(`${url}/v1/devices`, null, 'POST', { consent: { presence: true, marketing: false } })).body
    const other = '0f0e0d0c-0b0a-4908-8706-050403020100'
    const id = dev.deviceId
    const spellings = [id, id.toUpperCase(), id.replaceAll('-', ''), id.replaceAll('-', '').toUpperCase(), other]
    const ts = Date.now() - 60_000
    await ctx.db
      .insertInto('events')
      .values(spellings.map((subject, i) => ({ id: `01JD0000000000000000000E${i}0`, store_id: site.storeId, type: 'shop.enter', subject, ts, body: '{}', received: ts })))
      .execute()
    assert.equal((await api(`${url}/v1/devices/${id}`, dev.token, 'DELETE')).status, 204)
    const db = await readServer(dataDir)
    try {
      const left = (await db.all<{ subject: string }>('SELECT subject FROM events')).map(r => r.subject)
      assert.deepEqual(left, [other])
    } finally {
      await db.close()
    }
  } finally {
    await app.close()
  }
})
