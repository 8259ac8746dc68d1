// A gateway whose token the central server refuses (s8 report item 9: revoked, or the store
// provisioned again). /healthz said "central config not applied (N tries since T)" with N and T
// reset whenever the answer flipped between 401 and the 429 of the server's failed-auth limit, which
// the gateway's own pulls (every period) and live posts (every second) tripped. Now the problem
// counts from its first failure and keeps naming the token, the pulls back off, and the live
// posts stop while the token is refused. A real central server; the Uplink as the gateway runs it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from '../../server/app.ts'
import { onTestDb } from '../helpers/postgres.ts'
import { silentLogger, type Logger } from '../../shared/log.ts'
import { api } from '../helpers/procs.ts'
import { ROOT } from '../helpers/run.ts'
import { waitFor } from '../helpers/gateway.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { Uplink } from '../../gateway/io/uplink.ts'
import { CONFIG_BACKOFF_MAX_MS, nextProblem, pullWaitMs } from '../../gateway/io/config-trouble.ts'

const ADMIN = 'adm_uplink_refused_0123456789'

test('a refused gateway token: one problem from the first failure, naming the token; pulls back off; no live posts', async () => {
  // Two failed authentications a second from one address, then 429: the limit trips at once. A
  // second, not a minute: the gateway waits the Retry-After a 429 asks (retry-after-429.test.ts).
  const { app } = await buildServer(
    await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), 'uplink-refused-')), log: silentLogger, adminToken: ADMIN, limits: { authFailuresPerWindow: 2, windowMs: 1000 } })
  )
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string }
  assert.equal((await api(`${url}/v1/stores`, ADMIN, 'POST', { site })).status, 201)
  const warnings: string[] = []
  const nop = () => {}
  const log: Logger = { debug: nop, info: nop, error: nop, warn: (m, f) => warnings.push(`${m} ${JSON.stringify(f)}`) }
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'uplink-refused-gw-')))
  const every = 40
  const up = new Uplink(
    { central: url, token: 'gw_revoked_or_wrong', storeId: site.storeId, batch: 500, minBackoffMs: 500, maxBackoffMs: 30_000, configEveryMs: every },
    store,
    log,
    () => {}
  )
  let snapshots = 0
  up.liveSnapshot = () => {
    snapshots++
    return { ts: Date.now(), positions: [], occupancy: null, footfall: {} }
  }
  const started = Date.now()
  up.start()
  try {
    await waitFor(() => up.configProblem !== null, 10_000, 'the first refusal')
    const first = up.configProblem
    assert.ok(first)
    assert.match(first.message, /gateway token refused by the central server \(HTTP 401\)/)
    // Past the failed-auth limit the server answers 429: still the same problem, still the token.
    await waitFor(() => (up.configProblem?.tries ?? 0) >= 5, 20_000, 'five refused pulls')
    const ran = Date.now() - started
    const p = up.configProblem
    assert.ok(p)
    assert.equal(p.since, first.since, 'counted from the first failure')
    assert.match(p.message, /gateway token refused .*HTTP 401/)
    assert.equal(up.configFailures.refused, p.tries)
    // Every 40 ms, five pulls take 160 ms; backing off (at least 40, 80, 160, 320 ms between them) at least 600 ms.
    assert.ok(ran >= 600, `five pulls in ${ran} ms: no backoff`)
    assert.equal(warnings.filter(w => w.startsWith('central config not applied')).length, 1, warnings.join('\n'))
    assert.equal(snapshots, 0, 'no live post with a refused token')
  } finally {
    await up.stop(0)
    store.close()
    await app.close()
  }
})

test('the pull wait: the period until refused, then doubling with jitter up to the cap', () => {
  const mid = () => 0.5
  assert.equal(pullWaitMs(10_000, 0, mid), 10_000)
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map(n => pullWaitMs(10_000, n, mid)),
    [15_000, 30_000, 60_000, 120_000, 225_000, 225_000]
  )
  for (const r of [0, 0.999]) for (const n of [1, 5, 40]) assert.ok(pullWaitMs(10_000, n, () => r) >= 10_000 && pullWaitMs(10_000, n, () => r) <= CONFIG_BACKOFF_MAX_MS)
  // The problem: counted from its first failure; a 429 after a refused token keeps the token; another reason replaces it, same start.
  const a = nextProblem(null, 'token', 401, 1000)
  const b = nextProblem(a.problem, 'too many', 429, 2000)
  assert.deepEqual([b.problem, b.changed], [{ message: 'token', since: 1000, tries: 2, status: 401 }, false])
  const c = nextProblem(b.problem, 'config refused: /version: invalid', undefined, 3000)
  assert.deepEqual([c.problem, c.changed], [{ message: 'config refused: /version: invalid', since: 1000, tries: 3 }, true])
})
