// Analytics latency with many stored visits: the analytics route against /healthz (a trivial
// route) in the same run, and /healthz while analytics requests are in flight (it must never
// wait behind a query).
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from '../server/app.ts'
import { loadSiteFile } from '../shared/site.ts'
import { silentLogger } from '../shared/log.ts'
import { loadVisits } from './analytics-load.ts'

const ADMIN = 'adm_bench_analytics'

export interface Latency {
  p50Ms: number
  p99Ms: number
  maxMs: number
  n: number
}
export interface AnalyticsBench {
  visits: number
  events: number
  loadS: number
  routes: Record<string, Latency>
  healthzDuringAnalytics: Latency
}

function summary(ms: number[]): Latency {
  const s = [...ms].sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: s[s.length - 1], n: s.length }
}

export async function analyticsLatency(visits = 100_000, rounds = 200): Promise<AnalyticsBench> {
  const site = loadSiteFile('sites/boutique.site.json')
  const { app, ctx } = await buildServer({ dataDir: mkdtempSync(join(tmpdir(), 'bench-an-')), log: silentLogger, adminToken: ADMIN })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  try {
    const auth = { authorization: `Bearer ${ADMIN}` }
    const reg = await fetch(`${url}/v1/stores`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ site: site.file }) })
    if (reg.status !== 201) throw new Error(`provisioning: ${reg.status}`)
    const t0 = performance.now()
    await loadVisits(ctx.db, { storeId: site.storeId, visits, now: Date.now(), keep: false })
    const loadS = (performance.now() - t0) / 1000
    const events = Number(
      (
        await ctx.db
          .selectFrom('events')
          .select(eb => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n
    )
    const time = async (path: string): Promise<number> => {
      const s = performance.now()
      const r = await fetch(url + path, { headers: auth })
      await r.arrayBuffer()
      if (!r.ok) throw new Error(`${path}: ${r.status}`)
      return performance.now() - s
    }
    const paths: Record<string, string> = {
      '/healthz (trivial)': '/healthz',
      'GET /v1/analytics/stores/{id}': `/v1/analytics/stores/${site.storeId}`,
      'GET /v1/analytics/stores/{id}?since=7 days ago': `/v1/analytics/stores/${site.storeId}?since=${Date.now() - 7 * 86_400_000}`
    }
    const samples: Record<string, number[]> = Object.fromEntries(Object.keys(paths).map(k => [k, []]))
    // Interleaved, so that both see the same machine load.
    for (let i = 0; i < rounds; i++) for (const [k, p] of Object.entries(paths)) samples[k].push(await time(p))
    const during: number[] = []
    for (let i = 0; i < rounds / 4; i++) {
      const a = Promise.all([time(paths['GET /v1/analytics/stores/{id}']), time(paths['GET /v1/analytics/stores/{id}'])])
      during.push(await time('/healthz'))
      await a
    }
    return { visits, events, loadS, routes: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summary(v)])), healthzDuringAnalytics: summary(during) }
  } finally {
    await app.close()
  }
}
