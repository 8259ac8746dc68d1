// A gateway that cannot serve /healthz must not run half-started (issue 27): start() fails and
// releases the broker port and everything else it took, so the process exits non-zero.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, connect, type Server } from 'node:net'
import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Gateway } from '../../gateway/gateway.ts'
import { loadSiteFile } from '../../shared/site.ts'
import { silentLogger } from '../../shared/log.ts'
import { ROOT, runBin, START_TIMEOUT_MS } from '../helpers/run.ts'

async function listen(port = 0): Promise<Server> {
  const s = createServer()
  s.listen(port, '127.0.0.1')
  await once(s, 'listening')
  return s
}

function portOf(s: Server): number {
  const a = s.address()
  return typeof a === 'object' && a ? a.port : 0
}

async function accepts(port: number): Promise<boolean> {
  const c = connect(port, '127.0.0.1')
  try {
    await once(c, 'connect')
    return true
  } catch {
    return false
  } finally {
    c.destroy()
  }
}

test('an HTTP port already taken makes start() fail, and the embedded broker is stopped', async () => {
  const taken = await listen()
  const probe = await listen()
  const mqttPort = portOf(probe)
  await new Promise<void>(resolve => probe.close(() => resolve()))
  const g = new Gateway({
    site: loadSiteFile(join(ROOT, 'sites/boutique.site.json')),
    port: mqttPort,
    host: '127.0.0.1',
    dataDir: mkdtempSync(join(tmpdir(), 'gw-')),
    clock: 'event',
    httpPort: portOf(taken),
    prefix: 'instore',
    secret: 'test-secret',
    log: silentLogger
  })
  try {
    await assert.rejects(g.start(), /EADDRINUSE/)
    assert.equal(await accepts(mqttPort), false, 'the broker no longer accepts connections')
  } finally {
    taken.close()
  }
})

test('instore-gateway exits non-zero when its broker port is taken, instead of hanging on without a listener', async () => {
  const taken = await listen()
  try {
    const r = await runBin(
      'instore-gateway',
      ['--site', join(ROOT, 'sites/boutique.site.json'), '--port', String(portOf(taken)), '--http-port', '0', '--clock', 'event', '--data', mkdtempSync(join(tmpdir(), 'gw-'))],
      { timeoutMs: START_TIMEOUT_MS }
    )
    assert.equal(r.code, 1, `exit code ${r.code}: ${r.stdout.slice(-500)}`)
    assert.match(r.stdout, /EADDRINUSE/)
  } finally {
    taken.close()
  }
})
