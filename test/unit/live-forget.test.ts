// What a consent withdrawal or an erasure costs the live dashboard's hub: it empties the snapshots
// that show the subject and reads nothing else of the others. On PostgreSQL (INSTORE_TEST_DB=postgres)
// every store's latest snapshot is a row: the bytes the hub reads back must not grow with what other
// stores' dashboards show (anyone may withdraw consent, as often as they like).
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import type { KyselyPlugin } from 'kysely'
import { openData, type DataStore } from '../../server/db/db.ts'
import { LiveHub } from '../../server/hubs/live-hub.ts'
import { serverDb } from '../helpers/postgres.ts'

const position = (subject: string) => ({ subject, ts: 1, x: 1, y: 1, floor: 0, accuracyM: 2, shop: null, sector: null, source: 'ble' })

test('forget empties only the snapshots showing the subject, reading none of the others', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'live-forget-'))
  const data = await openData({ dataDir: dir, ...(await serverDb(dir)) })
  let bytes = 0
  const counter: KyselyPlugin = {
    transformQuery: a => a.node,
    transformResult: async a => {
      bytes += JSON.stringify(a.result.rows).length
      return a.result
    }
  }
  const counted: DataStore = { ...data, db: data.db.withPlugin(counter) }
  const hub = new LiveHub(counted)
  try {
    const crowd = Array.from({ length: 2000 }, (_, k) => position(`ble:${k.toString(16).padStart(12, '0')}`))
    for (let i = 0; i < 5; i++) await hub.publishSnapshot(`s${i}`, { ts: 1, positions: crowd, occupancy: null })
    await hub.publishSnapshot('mine', { ts: 1, positions: [...crowd, position('app:00000000000000aa')], occupancy: null })
    // A subject named elsewhere than in a position is no shopper shown there.
    await hub.publishSnapshot('named', { ts: 1, positions: crowd, occupancy: null, note: 'app:00000000000000aa' })
    bytes = 0
    await hub.forget('app:00000000000000bb')
    const nobody = bytes
    await hub.forget('app:00000000000000aa')
    assert.ok(nobody < 1000, `a subject shown nowhere: ${nobody} bytes read, not the snapshots`)
    assert.ok(bytes - nobody < 1000, `the subject's store: ${bytes - nobody} bytes read, not every snapshot`)
    assert.equal(await hub.latest('mine'), undefined, 'the snapshot showing the subject is emptied')
    for (const s of ['s0', 's4', 'named']) assert.notEqual(await hub.latest(s), undefined, `${s} keeps its snapshot`)
    if (data.engine === 'postgres') {
      // A row stored before the list of app subjects existed is searched by its body, in the database.
      await data.db
        .updateTable('live_snapshots')
        .set({ apps: null, body: JSON.stringify({ positions: [position('app:00000000000000cc')] }) })
        .where('store_id', '=', 's0')
        .execute()
      await hub.forget('app:00000000000000cc')
      assert.equal(await hub.latest('s0'), undefined, 'an old row showing the subject is emptied')
    }
  } finally {
    await data.close()
  }
})
