// Review of the s9 merge: a database from before the admin slot (migration 015) starts with the slot
// empty. (a) A first start with no token configured left it empty, so once the operator removed
// DATA/admin-token and configured a token, the bootstrap token stayed valid. (c) A replica without
// the bootstrap file that took the slot first left the bootstrap token valid for good. (b) A token
// configured before the upgrade and changed at the first start after it cannot be told from admin
// tokens made through the API: it stays valid, and a warn lists the untracked ones by id.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, renameSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer, BOOTSTRAP_TOKEN_FILE } from '../../server/app.ts'
import { createLogger } from '../../shared/log.ts'
import { onTestDb, TEST_ENGINE } from '../helpers/postgres.ts'
import { api } from '../helpers/procs.ts'
import { sql } from 'kysely'

const A = 'adm_configured_A_0123456789abcdef'
const C = 'adm_configured_C_0123456789abcdef'

async function start(dataDir: string, adminToken?: string) {
  const lines: string[] = []
  const log = createLogger({ write: l => lines.push(l) })
  const { app, ctx } = await buildServer(await onTestDb({ dataDir, log, ...(adminToken ? { adminToken } : {}) }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, ctx, url, lines }
}
type Server = Awaited<ReturnType<typeof start>>

const status = async (url: string, token: string) => (await api(`${url}/v1/tokens?role=admin`, token)).status
const adminIds = async (s: Server, token: string) => (await api<Array<{ id: string }>>(`${s.url}/v1/tokens?role=admin`, token)).body.map(t => t.id)
/** Closes the server and leaves its database as one upgraded now to migration 015: the slot empty, every token older. */
async function downgrade(s: Server) {
  await s.ctx.db.updateTable('admin_slot').set({ hash: null, file: null }).where('id', '=', 1).execute()
  await sql`UPDATE kysely_migration SET timestamp = ${new Date(Date.now() + 1).toISOString()} WHERE name >= '015'`.execute(s.ctx.db)
  await s.app.close()
}
const untracked = (s: Server) => s.lines.filter(l => l.includes('untrackedTokenIds')).map(l => JSON.parse(l).untrackedTokenIds as string[])

test(`upgrade, no token configured: the bootstrap token takes the empty slot and the first configured token revokes it (${TEST_ENGINE})`, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'slot-upgrade-'))
  let s = await start(dataDir)
  const boot = readFileSync(join(dataDir, BOOTSTRAP_TOKEN_FILE), 'utf8').trim()
  await downgrade(s)
  s = await start(dataDir)
  await s.app.close()
  renameSync(join(dataDir, BOOTSTRAP_TOKEN_FILE), join(dataDir, 'moved-to-a-vault'))
  s = await start(dataDir, A)
  try {
    assert.equal(await status(s.url, A), 200)
    assert.equal(await status(s.url, boot), 401, 'the bootstrap token is revoked by the first configured token')
    assert.deepEqual(untracked(s), [], 'nothing untracked left')
  } finally {
    await s.app.close()
  }
})

test(`upgrade, a replica without the bootstrap file took the slot: the bootstrap token goes at the next configured start with the file (${TEST_ENGINE})`, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'slot-upgrade-'))
  let s = await start(dataDir)
  const boot = readFileSync(join(dataDir, BOOTSTRAP_TOKEN_FILE), 'utf8').trim()
  const bootId = (await adminIds(s, boot))[0]
  await downgrade(s)
  renameSync(join(dataDir, BOOTSTRAP_TOKEN_FILE), join(dataDir, 'away'))
  s = await start(dataDir, A)
  try {
    assert.equal(await status(s.url, boot), 200, 'no file here: nothing names the bootstrap token')
    assert.deepEqual(untracked(s), [[bootId]], 'but the warn lists it')
  } finally {
    await s.app.close()
  }
  renameSync(join(dataDir, 'away'), join(dataDir, BOOTSTRAP_TOKEN_FILE))
  s = await start(dataDir, A)
  try {
    assert.equal(await status(s.url, A), 200)
    assert.equal(await status(s.url, boot), 401, 'the file names a live bootstrap token: it is revoked')
    assert.ok(!existsSync(join(dataDir, BOOTSTRAP_TOKEN_FILE)))
    assert.deepEqual(untracked(s), [], 'the slot is no longer empty: no warn')
  } finally {
    await s.app.close()
  }
})

test(`upgrade, a configured token changed at the first start after it: the old one stays, listed in a warn (${TEST_ENGINE})`, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'slot-upgrade-'))
  let s = await start(dataDir, A)
  const aId = (await adminIds(s, A))[0]
  await downgrade(s)
  s = await start(dataDir, C)
  try {
    assert.equal(await status(s.url, C), 200)
    assert.equal(await status(s.url, A), 200, 'nothing tells A from an API-made admin token')
    assert.deepEqual(untracked(s), [[aId]])
    assert.match(s.lines.join(''), /"level":"warn".*GET \/v1\/tokens\?role=admin/)
    assert.ok(!s.lines.join('').includes(A), 'no secret in the log')
  } finally {
    await s.app.close()
  }
  s = await start(dataDir, C)
  try {
    assert.deepEqual(untracked(s), [], 'once: the slot holds C now')
  } finally {
    await s.app.close()
  }
})
