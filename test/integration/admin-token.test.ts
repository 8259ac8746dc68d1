// The admin token given at start (s8 report item 3): `--admin-token abc` was taken silently, and the
// command line was the only way to give one, where every local user reads it (ps). Now a token
// shorter than ADMIN_TOKEN_MIN_CHARS is refused with exit code 2, and INSTORE_ADMIN_TOKEN or
// --admin-token-file (refused when other users may read it) keep it off the command line.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { binEntry, ROOT, START_TIMEOUT_MS } from '../helpers/run.ts'
import { waitFor } from '../helpers/gateway.ts'
import { ADMIN_TOKEN_MIN_CHARS, ADMIN_TOKEN_MIN_DISTINCT } from '../../server/admin-token.ts'

const dir = mkdtempSync(join(tmpdir(), 'admin-token-'))
const STRONG = 'adm_Zq3v9Xk2Lp7Rt5Wm1Yc8Nb4H'

/** Runs instore-server until it has started (then stops it) or exits; the exit code (null once started), its output, its URL. */
async function server(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; url: string | null; stop: () => Promise<void> }> {
  const { INSTORE_ADMIN_TOKEN: _, ...base } = process.env
  const child = spawn(process.execPath, [binEntry('instore-server'), '--port', '0', '--data', mkdtempSync(join(dir, 'data-')), ...args], {
    cwd: ROOT,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  child.stdout.on('data', d => {
    out += d
  })
  child.stderr.on('data', d => {
    out += d
  })
  const exited = new Promise<void>(resolve => child.on('exit', () => resolve()))
  await waitFor(() => /"server started"/.test(out) || child.exitCode !== null, START_TIMEOUT_MS, 'server to start or exit')
  const url = /"url":"(http:\/\/[0-9.:]+)"/.exec(out)?.[1] ?? null
  return {
    code: child.exitCode,
    out,
    url,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
    }
  }
}

const admits = async (url: string | null, token: string) => (await fetch(`${url}/v1/stores`, { headers: { authorization: `Bearer ${token}` } })).status

test('a weak --admin-token is refused at start with exit code 2', async () => {
  for (const weak of ['abc', 'x'.repeat(ADMIN_TOKEN_MIN_CHARS - 1)]) {
    const s = await server(['--admin-token', weak])
    await s.stop()
    assert.equal(s.code, 2, s.out)
    assert.match(s.out, new RegExp(`--admin-token: an admin token needs at least ${ADMIN_TOKEN_MIN_CHARS} characters, got ${weak.length}`))
  }
  // Long enough but one letter repeated, or a short pattern (outside tester, s8): too little variety.
  for (const [plain, distinct] of [
    ['a'.repeat(ADMIN_TOKEN_MIN_CHARS), 1],
    ['abc123'.repeat(5), 6]
  ] as const) {
    const s = await server(['--admin-token', plain])
    await s.stop()
    assert.equal(s.code, 2, s.out)
    assert.match(s.out, new RegExp(`--admin-token: an admin token needs at least ${ADMIN_TOKEN_MIN_DISTINCT} different characters, got ${distinct}`))
  }
  const spaced = await server([], { INSTORE_ADMIN_TOKEN: `${STRONG} with spaces` })
  await spaced.stop()
  assert.equal(spaced.code, 2, spaced.out)
  assert.match(spaced.out, /INSTORE_ADMIN_TOKEN: the admin token may hold only printable ASCII/)
})

test('a strong --admin-token works, with a warning that the command line is visible', async () => {
  const s = await server(['--admin-token', STRONG])
  try {
    assert.equal(s.code, null, s.out)
    assert.equal(await admits(s.url, STRONG), 200)
    assert.match(s.out, /"level":"warn".*--admin-token is visible to every local user/)
    assert.ok(!s.out.includes(STRONG), 'the token never reaches the log')
  } finally {
    await s.stop()
  }
})

test('INSTORE_ADMIN_TOKEN gives the admin token off the command line; a weak one is refused', async () => {
  const s = await server([], { INSTORE_ADMIN_TOKEN: STRONG })
  try {
    assert.equal(s.code, null, s.out)
    assert.equal(await admits(s.url, STRONG), 200)
    assert.doesNotMatch(s.out, /visible to every local user/)
  } finally {
    await s.stop()
  }
  const weak = await server([], { INSTORE_ADMIN_TOKEN: 'short' })
  await weak.stop()
  assert.equal(weak.code, 2, weak.out)
  assert.match(weak.out, /INSTORE_ADMIN_TOKEN: an admin token needs at least/)
})

test('--admin-token-file: read when only its owner (and group) may read it, refused when others may', async () => {
  const file = join(dir, 'admin-token.txt')
  writeFileSync(file, `${STRONG}\n`)
  chmodSync(file, 0o644)
  const open = await server(['--admin-token-file', file])
  await open.stop()
  assert.equal(open.code, 2, open.out)
  assert.match(open.out, /--admin-token-file .* is open to other users \(mode 644\)/)
  for (const mode of [0o600, 0o640]) {
    chmodSync(file, mode)
    const s = await server(['--admin-token-file', file])
    try {
      assert.equal(s.code, null, s.out)
      assert.equal(await admits(s.url, STRONG), 200)
    } finally {
      await s.stop()
    }
  }
  const both = await server(['--admin-token-file', file, '--admin-token', STRONG])
  await both.stop()
  assert.equal(both.code, 2, both.out)
  assert.match(both.out, /give the admin token one way/)
})
