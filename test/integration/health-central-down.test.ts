// /healthz of a gateway whose central server goes down while it has no events to send: the failing
// config pulls name the server unreachable (repro: "ok" for as long as it stayed down), and the
// first pull that gets an answer clears it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT, freePort } from '../helpers/run.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { startServer, stopChild, api } from '../helpers/procs.ts'

const ADMIN = 'adm_test_token_0123456789'

async function healthz(port: number): Promise<{ status: string; problems: string[] }> {
  return (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { status: string; problems: string[] }
}

test('/healthz names the central server unreachable when config pulls fail with no events to send, and clears when one succeeds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'health-central-'))
  const port = await freePort()
  let server = await startServer(join(dir, 'server'), ADMIN, port)
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8'))
  const store = await api<{ gatewayToken: string }>(`${server.url}/v1/stores`, ADMIN, 'POST', { site })
  assert.equal(store.status, 201)
  const gw = await startGateway({ clock: 'wall', central: { url: server.url, token: store.body.gatewayToken, configEveryMs: 200 } })
  try {
    await waitFor(async () => (await healthz(gw.httpPort)).problems.every(p => !p.startsWith('central')), 10_000, 'a first config pull')
    await stopChild(server.child)
    await waitFor(async () => (await healthz(gw.httpPort)).problems.some(p => /^central unreachable: config pulls failing/.test(p)), 20_000, 'central named unreachable')
    assert.equal((await healthz(gw.httpPort)).status, 'degraded')
    server = await startServer(join(dir, 'server'), ADMIN, port)
    await waitFor(async () => (await healthz(gw.httpPort)).problems.every(p => !p.startsWith('central')), 20_000, 'central reachable again')
  } finally {
    await gw.stop()
    await stopChild(server.child)
  }
})
