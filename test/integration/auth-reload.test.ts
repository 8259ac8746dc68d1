// SIGHUP puts an edited auth file in force without a restart: a revoked or rotated credential is
// disconnected at once and refused after, the others stay connected; a file that does not load
// leaves the one in force (logged, counted), and the gateway keeps running.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { hashPassword } from '../../gateway/io/broker-auth.ts'
import { waitFor } from '../helpers/gateway.ts'
import { binEntry, ROOT, START_TIMEOUT_MS } from '../helpers/run.ts'
import { stopChild } from '../helpers/procs.ts'

test('SIGHUP reloads the auth file: revoked and rotated credentials are cut off, the rest stay', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'auth-reload-'))
  const authPath = join(dir, 'auth.json')
  const old = hashPassword('old-password')
  writeFileSync(authPath, JSON.stringify({ sensors: { b1: old, b2: old }, phones: { 'phone:dev1': old } }), { mode: 0o600 })
  const child = spawn(
    process.execPath,
    [binEntry('instore-gateway'), '--site', join(ROOT, 'sites/boutique.site.json'), '--port', '0', '--http-port', '0', '--data', join(dir, 'data'), '--auth', authPath],
    { stdio: ['ignore', 'pipe', 'pipe'] }
  )
  let out = ''
  child.stdout?.on('data', d => {
    out += d
  })
  child.stderr?.on('data', d => {
    out += d
  })
  const clients: MqttClient[] = []
  try {
    await waitFor(() => /"gateway started"/.test(out), START_TIMEOUT_MS, 'gateway start')
    const url = (/mqtt:\/\/[0-9.:]+/.exec(out) as RegExpExecArray)[0]
    const http = (/http:\/\/[0-9.:]+/.exec(out) as RegExpExecArray)[0]
    const connect = async (username: string, password: string): Promise<MqttClient> => {
      const c = await mqtt.connectAsync(url, { username, password, clientId: `${username}-test`, reconnectPeriod: 0 })
      clients.push(c)
      return c
    }
    const closed = (c: MqttClient): Promise<void> => new Promise(resolve => c.once('close', () => resolve()))
    const phone = await connect('phone:dev1', 'old-password')
    const b1 = await connect('b1', 'old-password')
    const b2 = await connect('b2', 'old-password')
    let b2Closed = false
    b2.on('close', () => {
      b2Closed = true
    })
    const phoneGone = closed(phone)
    const b1Gone = closed(b1)

    // The phone is revoked, b1's password rotated, b2 unchanged.
    writeFileSync(authPath, JSON.stringify({ sensors: { b1: hashPassword('new-password'), b2: old } }))
    child.kill('SIGHUP')
    await Promise.all([phoneGone, b1Gone])
    await waitFor(() => /"auth file reloaded"/.test(out), 10_000, 'reload logged')
    assert.match(out, /"disconnected":2/)
    await assert.rejects(connect('phone:dev1', 'old-password'), /Bad username or password|Not authorized/i)
    await assert.rejects(connect('b1', 'old-password'), /Bad username or password|Not authorized/i)
    await connect('b1', 'new-password')
    await b2.publishAsync('instore/boutique-1/sensors/b2/status', '{"online":true}', { qos: 1 })
    assert.equal(b2Closed, false, 'an unchanged credential stays connected')

    // A broken file is refused; what is in force stays, and so does the process.
    writeFileSync(authPath, '{"sensors": {"b1": "plaintext"}}')
    child.kill('SIGHUP')
    await waitFor(() => /"auth file not reloaded: the one in force stays"/.test(out), 10_000, 'refusal logged')
    assert.match(out, /"problems":\["\/sensors\/b1: /, 'the schema problems are logged, not only their count')
    // A password pasted unquoted: the log says where the JSON breaks, never what it holds.
    writeFileSync(authPath, '{"sensors": {"b1": MySecretPassw0rd}}')
    child.kill('SIGHUP')
    await waitFor(() => (out.match(/auth file not reloaded/g) ?? []).length >= 2, 10_000, 'second refusal logged')
    assert.doesNotMatch(out, /MySecret/)
    // A file every local user may write is not taken in, whatever it holds.
    writeFileSync(authPath, JSON.stringify({ sensors: { b1: hashPassword('new-password'), b2: old }, readers: { evil: old } }))
    chmodSync(authPath, 0o666)
    child.kill('SIGHUP')
    await waitFor(() => /writable by every local user/.test(out), 10_000, 'world-writable refused')
    await assert.rejects(connect('evil', 'old-password'), /Bad username or password|Not authorized/i)
    await connect('b1', 'new-password')
    const metrics = await (await fetch(`${http}/metrics`)).text()
    assert.match(metrics, /instore_broker_auth_total\{result="revoked"\} 2/)
    assert.match(metrics, /instore_broker_auth_total\{result="reloadRefused"\} 3/)
    assert.equal(child.exitCode, null, 'still running')
  } finally {
    for (const c of clients) c.end(true)
    await stopChild(child)
  }
})

test('SIGHUP without --auth is logged and ignored: the gateway does not die undrained', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'auth-reload-none-'))
  const child = spawn(
    process.execPath,
    [binEntry('instore-gateway'), '--site', join(ROOT, 'sites/boutique.site.json'), '--port', '0', '--http-port', '0', '--data', join(dir, 'data')],
    {
      stdio: ['ignore', 'pipe', 'pipe']
    }
  )
  let out = ''
  child.stdout?.on('data', d => {
    out += d
  })
  try {
    await waitFor(() => /"gateway started"/.test(out), START_TIMEOUT_MS, 'gateway start')
    child.kill('SIGHUP')
    await waitFor(() => /nothing to reload/.test(out), 10_000, 'SIGHUP logged')
    assert.equal(child.exitCode, null, 'still running')
  } finally {
    await stopChild(child)
  }
})
