// The central link under an outside tester's attacks (s6): a config with a six-figure list of
// erasures applies (it threw past node's argument limit and never applied, silently); a config that
// keeps failing is a warning, counted and in /healthz; and no central call follows a redirect (the
// events went to another origin without the token and were marked sent).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Logger } from '../../shared/log.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { Uplink } from '../../gateway/io/uplink.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'

interface Seen {
  method: string
  url: string
  auth: string | undefined
}

/** An HTTP server on port 0 answering every request with `answer`, recording what it was asked. */
async function serve(answer: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization })
      answer(req, Buffer.concat(chunks).toString(), res)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const a = server.address()
  return { server, url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, seen }
}

/** A central server whose config is `config` and which accepts every events POST. */
const centralWith = (config: string) =>
  serve((req, body, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(config)
      return
    }
    const n = (JSON.parse(body) as { events?: unknown[] }).events?.length ?? 0
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ accepted: n, duplicates: 0 }))
  })

/** A logger keeping each line's level and message. */
function recording(): { log: Logger; lines: Array<[string, string]> } {
  const lines: Array<[string, string]> = []
  const at = (level: string) => (msg: string) => void lines.push([level, msg])
  return { log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines }
}

async function healthz(port: number): Promise<{ status: string; problems: string[] }> {
  return (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { status: string; problems: string[] }
}

test('a full config with 130,000 erasures applies and erases (repro: RangeError, never applied, /healthz ok)', async () => {
  const erasures = Array.from({ length: 130_000 }, (_, i) => `h:${i.toString(16).padStart(16, '0')}`)
  const central = await centralWith(JSON.stringify({ storeId: 'boutique-1', version: 'v1', full: true, devices: [], removed: [], erasures }))
  const { log, lines } = recording()
  const g = await startGateway({ central: { url: central.url, token: 't', configEveryMs: 60_000 }, log })
  try {
    const store = g.store as GatewayStore
    // Rows of a subject the config erases, and of one it does not.
    store.addEvent('e-gone', 'shop.enter', 1, JSON.stringify({ id: 'e-gone', type: 'shop.enter', subject: erasures[129_999] }))
    store.addEvent('e-kept', 'shop.enter', 1, JSON.stringify({ id: 'e-kept', type: 'shop.enter', subject: 'h:kept' }))
    await waitFor(() => lines.some(([, m]) => m === 'config applied'), 60_000, 'the config applied')
    assert.equal(g.uplink?.configProblem, null)
    assert.deepEqual(
      lines.filter(([l]) => l === 'warn' || l === 'error'),
      []
    )
    assert.equal(store.erase([erasures[129_999]]), 0, 'its rows were erased with the config')
    assert.equal(store.erase(['h:kept']), 1)
  } finally {
    await g.stop()
    central.server.close()
  }
})

test('a config that keeps failing is a warning, counted, and /healthz names it until one applies (repro: debug only, /healthz ok)', async () => {
  let config = JSON.stringify({ storeId: 'boutique-1', version: 'v1', full: 'yes' })
  const central = await serve((_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(config)
  })
  const { log, lines } = recording()
  const g = await startGateway({ central: { url: central.url, token: 't', configEveryMs: 100 }, log })
  try {
    await waitFor(() => (g.uplink?.configFailures.refused ?? 0) >= 3, 10_000, 'three refused pulls')
    const h = await healthz(g.httpPort)
    assert.equal(h.status, 'degraded')
    assert.ok(
      h.problems.some(p => /central config not applied .*config refused: \//.test(p)),
      JSON.stringify(h)
    )
    assert.equal(lines.filter(([l, m]) => l === 'warn' && /central config not applied/.test(m)).length, 1, 'warned once while the same failure repeats')
    const metrics = await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
    assert.match(metrics, /instore_config_failures_total\{reason="refused"\} [3-9]/)
    config = JSON.stringify({ storeId: 'boutique-1', version: 'v2', full: true, devices: [], removed: [], erasures: [] })
    await waitFor(async () => (await healthz(g.httpPort)).status === 'ok', 10_000, '/healthz ok again')
  } finally {
    await g.stop()
    central.server.close()
  }
})

test('a config whose applying throws is counted as such and kept in view', async () => {
  const central = await centralWith(JSON.stringify({ storeId: 's', version: 'v1', full: true, devices: [], removed: [], erasures: [] }))
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'central-hostile-')))
  const up = new Uplink({ central: central.url, token: 't', storeId: 's', batch: 10, minBackoffMs: 50, maxBackoffMs: 200, configEveryMs: 50 }, store, recording().log, () => {
    throw new RangeError('Maximum call stack size exceeded')
  })
  try {
    up.start()
    await waitFor(() => up.configFailures.apply >= 2, 10_000, 'two failed applies')
    assert.match(up.configProblem?.message ?? '', /config v1 could not be applied: Maximum call stack/)
  } finally {
    await up.stop(0)
    store.close()
    central.server.close()
  }
})

test('no central call follows a redirect: events stay in the outbox, the token stays home, /healthz and /metrics say why (repro: marked sent)', async () => {
  const elsewhere = await centralWith(JSON.stringify({ storeId: 'boutique-1', version: 'v9', full: true, devices: [], removed: [], erasures: [] }))
  const central = await serve((req, _body, res) => {
    res.writeHead(307, { location: `${elsewhere.url}${req.url ?? ''}`, 'content-length': '0' })
    res.end()
  })
  const g = await startGateway({ central: { url: central.url, token: 'gwtok_SECRET123', configEveryMs: 100 } })
  try {
    const store = g.store as GatewayStore
    for (const id of ['r1', 'r2']) store.addEvent(id, 'shop.enter', 1, JSON.stringify({ id, type: 'shop.enter' }))
    g.uplink?.kick()
    await waitFor(() => (g.uplink?.redirects.events ?? 0) >= 2 && (g.uplink?.redirects.config ?? 0) >= 2, 15_000, 'redirected calls')
    assert.equal(store.backlog(), 2, 'nothing marked sent')
    assert.deepEqual(elsewhere.seen, [], 'nothing reached the other origin')
    const h = await healthz(g.httpPort)
    assert.ok(
      h.problems.some(p => /central unreachable: HTTP 307 redirect to .*not followed/.test(p)),
      JSON.stringify(h)
    )
    assert.ok(
      h.problems.some(p => /central config not applied .*HTTP 307 redirect/.test(p)),
      JSON.stringify(h)
    )
    const metrics = await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
    assert.match(metrics, /instore_uplink_redirects_total\{call="events"\} [1-9]/)
  } finally {
    await g.stop()
    central.server.close()
    elsewhere.server.close()
  }
})
