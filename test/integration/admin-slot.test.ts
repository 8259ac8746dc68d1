// The admin token from configuration is one slot (s9 outside tester, item 1): an operator who
// changes INSTORE_ADMIN_TOKEN in server.env and restarts found the old token, and the bootstrap
// token of the first start, still valid, silently. Now the configured (or bootstrap) token that a
// different configured one replaces is revoked, with a warn line naming its id; admin tokens made
// through the API stay. Replicas starting together on one PostgreSQL database leave one token in
// the slot and make one bootstrap token at most.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer, BOOTSTRAP_TOKEN_FILE } from '../../server/app.ts'
import { createLogger } from '../../shared/log.ts'
import { onTestDb, readServer, TEST_ENGINE } from '../helpers/postgres.ts'
import { api } from '../helpers/procs.ts'

const A = 'adm_configured_A_0123456789abcdef'
const B = 'adm_configured_B_0123456789abcdef'

/** A server on dataDir with this configured admin token (or none), listening; its log lines. */
async function start(dataDir: string, adminToken?: string) {
  const lines: string[] = []
  const log = createLogger({ write: l => lines.push(l) })
  const { app, bootstrapToken } = await buildServer(await onTestDb({ dataDir, log, ...(adminToken ? { adminToken } : {}) }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url, lines, bootstrapToken }
}

const status = async (url: string, token: string) => (await api(`${url}/v1/tokens?role=admin`, token)).status

test('a different configured admin token revokes the previous configured or bootstrap one; API-made admin tokens stay', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'admin-slot-'))
  let s = await start(dataDir)
  const boot = readFileSync(join(dataDir, BOOTSTRAP_TOKEN_FILE), 'utf8').trim()
  assert.equal(s.bootstrapToken, boot)
  const made = (await api<{ token: string }>(`${s.url}/v1/operators`, boot, 'POST', { role: 'admin', stores: [] })).body.token
  await s.app.close()

  s = await start(dataDir, A)
  try {
    assert.equal(await status(s.url, A), 200)
    assert.equal(await status(s.url, boot), 401, 'the bootstrap token is retired by the first configured one')
    assert.equal(await status(s.url, made), 200, 'an admin token made through the API stays')
    assert.ok(!existsSync(join(dataDir, BOOTSTRAP_TOKEN_FILE)), 'the file of a revoked bootstrap token goes')
    assert.match(s.lines.join(''), /"level":"warn".*configured admin token changed.*"revokedTokenId":"tok_/)
  } finally {
    await s.app.close()
  }

  s = await start(dataDir, B)
  try {
    assert.equal(await status(s.url, B), 200)
    assert.equal(await status(s.url, A), 401, 'the replaced configured token is refused')
    assert.equal(await status(s.url, made), 200)
    const all = s.lines.join('')
    assert.match(all, /configured admin token changed/)
    assert.ok(!all.includes(A) && !all.includes(B), 'no secret in the log')
    const admins = (await api<Array<{ role: string }>>(`${s.url}/v1/tokens?role=admin`, B)).body
    assert.equal(admins.length, 2, 'B and the API-made one')
  } finally {
    await s.app.close()
  }

  // The same token again, or none at all: nothing is revoked, nothing made.
  for (const again of [B, undefined]) {
    s = await start(dataDir, again)
    try {
      assert.equal(await status(s.url, B), 200)
      assert.equal(s.bootstrapToken, null)
      assert.doesNotMatch(s.lines.join(''), /configured admin token changed/)
    } finally {
      await s.app.close()
    }
  }
})

test('replicas starting together on one PostgreSQL database: one bootstrap token, then one configured token in the slot', {
  skip: TEST_ENGINE === 'sqlite' ? 'one SQLite file has one server process' : false
}, async () => {
  const first = mkdtempSync(join(tmpdir(), 'admin-slot-r0-'))
  const o = await onTestDb({ dataDir: first })
  const startAll = async (adminToken?: string) => {
    const dirs = [first, mkdtempSync(join(tmpdir(), 'admin-slot-r1-')), mkdtempSync(join(tmpdir(), 'admin-slot-r2-'))]
    return await Promise.all(
      dirs.map(async dataDir => {
        const lines: string[] = []
        const log = createLogger({ write: l => lines.push(l) })
        const r = await buildServer({ ...o, dataDir, log, ...(adminToken ? { adminToken } : {}) })
        return { ...r, lines, dataDir }
      })
    )
  }
  const countAdmins = async () => {
    const db = await readServer(first)
    try {
      return (await db.all<{ n: number }>("SELECT count(*) AS n FROM tokens WHERE role = 'admin'"))[0].n
    } finally {
      await db.close()
    }
  }
  let rs = await startAll()
  const boots = rs.map(r => r.bootstrapToken).filter(t => t !== null)
  assert.equal(boots.length, 1, 'one replica makes the bootstrap token')
  const maker = rs.find(r => r.bootstrapToken !== null)?.dataDir as string
  const told = rs.filter(r => r.lines.some(l => l.includes('bootstrap admin token was made by the replica') && l.includes(join(maker, BOOTSTRAP_TOKEN_FILE))))
  assert.equal(told.length, 2, 'the other replicas log where the token is')
  assert.equal(Number(await countAdmins()), 1)
  for (const r of rs) await r.app.close()

  rs = await startAll(A)
  for (const r of rs) await r.app.close()
  rs = await startAll(B)
  try {
    assert.equal(Number(await countAdmins()), 1, 'only B: A and the bootstrap token were revoked, once')
    const url = await rs[0].app.listen({ port: 0, host: '127.0.0.1' })
    assert.equal(await status(url, B), 200)
    assert.equal(await status(url, A), 401)
    assert.equal(await status(url, boots[0] as string), 401)
  } finally {
    for (const r of rs) await r.app.close()
  }
})
