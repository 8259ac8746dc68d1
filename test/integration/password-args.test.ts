// A password on the command line (s9 outside tester, item 5): `instore-passwd --password` and
// `instore-replay --password` took it silently, where every local user reads it (ps), unlike
// --admin-token. Both now warn; instore-passwd reads standard input, instore-replay
// INSTORE_MQTT_PASSWORD.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { binEntry, ROOT } from '../helpers/run.ts'
import { startGateway } from '../helpers/gateway.ts'
import { hashPassword, verifyPassword } from '../../gateway/io/broker-auth.ts'

/** Runs a bin with this environment and standard input; its exit code and output. */
function run(bin: string, args: string[], env: Record<string, string> = {}, stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const { INSTORE_MQTT_PASSWORD: _, ...base } = process.env
    const child = spawn(process.execPath, [binEntry(bin), ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => {
      stdout += d
    })
    child.stderr.on('data', d => {
      stderr += d
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('error', reject)
    child.on('close', code => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(stdin)
  })
}

test('instore-passwd warns of --password on stderr; standard input takes the password without a warning', async () => {
  const flag = await run('instore-passwd', ['--password', 'right-password-1'])
  assert.equal(flag.code, 0, flag.stderr)
  assert.match(flag.stderr, /--password is visible to every local user/)
  assert.ok(verifyPassword('right-password-1', flag.stdout.trim()), 'stdout is the hash alone')
  const piped = await run('instore-passwd', [], {}, 'right-password-1\n')
  assert.equal(piped.code, 0, piped.stderr)
  assert.equal(piped.stderr, '')
  assert.ok(verifyPassword('right-password-1', piped.stdout.trim()))
})

test('instore-replay warns of --password and logs in with INSTORE_MQTT_PASSWORD', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'password-args-'))
  const trace = join(dir, 'empty.jsonl')
  writeFileSync(trace, '')
  const g = await startGateway({ auth: { readers: { replayer: hashPassword('reader-password-1') } } })
  try {
    const flag = await run('instore-replay', ['--trace', trace, '--broker', g.mqttUrl, '--username', 'replayer', '--password', 'reader-password-1'])
    assert.equal(flag.code, 0, flag.stdout + flag.stderr)
    assert.match(flag.stdout, /"level":"warn".*--password is visible to every local user/)
    const env = await run('instore-replay', ['--trace', trace, '--broker', g.mqttUrl, '--username', 'replayer'], { INSTORE_MQTT_PASSWORD: 'reader-password-1' })
    assert.equal(env.code, 0, env.stdout + env.stderr)
    assert.doesNotMatch(env.stdout, /visible to every local user/)
    const wrong = await run('instore-replay', ['--trace', trace, '--broker', g.mqttUrl, '--username', 'replayer'], { INSTORE_MQTT_PASSWORD: 'wrong-password-1' })
    assert.notEqual(wrong.code, 0, 'the environment password is the one sent')
  } finally {
    await g.stop()
  }
})
