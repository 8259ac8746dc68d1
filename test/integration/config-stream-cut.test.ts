// Reviewer (s11): a whole config whose device list fails to build midway reached the gateway as a
// 200 with an ETag and a body cut short, and nothing on the server said why. The server now logs
// the failure and counts it (`instore_server_config_streams_cut_total`); the gateway applies
// nothing and keeps no ETag from such a reply, so once the list builds again it gets the config
// whole (an ETag kept from the cut reply would have had it answered 304, the config never
// applied). A real server on a real database, a real gateway uplink; the build fails on a device
// row whose identity key is not a key (as a damaged row would be).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes, randomUUID } from 'node:crypto'
import { startChain } from '../helpers/replicas.ts'
import { TEST_ENGINE } from '../helpers/postgres.ts'
import { waitFor } from '../helpers/gateway.ts'
import { nextConfigVersion } from '../../server/db/db.ts'
import { createLogger, silentLogger } from '../../shared/log.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { Uplink } from '../../gateway/io/uplink.ts'
import type { GatewayConfigT } from '../../shared/gateway-config.ts'

test(`a config whose list fails midway is logged and counted on the server; the gateway applies nothing, keeps no ETag, and takes the whole config once it builds (${TEST_ENGINE})`, {
  timeout: 120_000
}, async () => {
  const lines: string[] = []
  const chain = await startChain('config-stream-cut', 1, undefined, {}, createLogger({ level: 'debug', write: l => lines.push(l) }))
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'config-stream-cut-gw-')))
  const { url, ctx } = chain.replicas[0]
  const subject = 'app:' + randomBytes(8).toString('hex')
  await ctx.db.transaction().execute(async trx => {
    const version = await nextConfigVersion(trx)
    await trx
      .insertInto('devices')
      .values({ device_id: randomUUID(), subject, identity_key: 'zz', k: 10, presence: 1, marketing: 1, listed: 1, version, created: Date.now() })
      .execute()
  })
  const applied: GatewayConfigT[] = []
  const up = new Uplink({ central: url, token: chain.gw.s1, storeId: 's1', batch: 500, minBackoffMs: 500, maxBackoffMs: 30_000, configEveryMs: 200 }, store, silentLogger, c => {
    applied.push(c)
  })
  const cut = async () => Number(/^instore_server_config_streams_cut_total\{reason="build_failed"\} (\d+)$/m.exec(await (await fetch(url + '/metrics')).text())?.[1])
  try {
    up.start()
    await waitFor(async () => up.configFailures.unreachable + up.configFailures.refused >= 2 && (await cut()) >= 2, 30_000, 'two pulls cut short by the failing build')
    assert.equal(applied.length, 0, 'nothing applied from a body cut short')
    const logged = lines.map(l => JSON.parse(l) as { level: string; msg: string; storeId?: string; err?: string }).find(l => l.msg.startsWith('config reply cut short'))
    assert.equal(logged?.level, 'error')
    assert.equal(logged?.storeId, 's1')
    assert.match(logged?.err ?? '', /key/i, 'the reason the list failed')
    // The row is repaired (same config version: the whole reply's ETag is the same as the cut one's).
    await ctx.db
      .updateTable('devices')
      .set({ identity_key: randomBytes(16).toString('hex') })
      .where('subject', '=', subject)
      .execute()
    await waitFor(() => applied.length > 0, 30_000, 'the config applied once its list builds')
    assert.deepEqual(
      applied[0].devices.map(d => d.subject),
      [subject]
    )
  } finally {
    await up.stop(0)
    store.close()
    await chain.close()
  }
})
