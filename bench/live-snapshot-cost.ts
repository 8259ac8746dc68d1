// A gateway's live snapshot on the engine INSTORE_TEST_DB names (SQLite by default; `postgres`: a
// private cluster): N posts, one after another, each showing K registered app subjects (whose
// presence consent the server reads, on PostgreSQL holding their rows, in the storing transaction).
// Prints the post's median and 90th percentile, and this process's CPU (server and client: one
// process). Usage: INSTORE_TEST_DB=postgres N=200 K=200 node --import tsx bench/live-snapshot-cost.ts
import { startChain, seedListedDevices } from '../test/helpers/replicas.ts'
import { api } from '../test/helpers/procs.ts'

const N = Number(process.env.N ?? 200)
const K = Number(process.env.K ?? 200)
const chain = await startChain('snapshot-cost', 1, undefined, { liveMinIntervalMs: 0 })
const { url, ctx } = chain.replicas[0]
await seedListedDevices(ctx.db, K)
const subjects = (await ctx.db.selectFrom('devices').select('subject').execute()).map(r => r.subject)
const at = (subject: string, ts: number) => ({ subject, ts, x: 1, y: 1, floor: 0, accuracyM: 2, shop: 'boutique', sector: 'women', source: 'ble' })
const ms: number[] = []
const cpu0 = process.cpuUsage()
for (let i = 0; i < N; i++) {
  const t = performance.now()
  const r = await api(`${url}/v1/stores/s1/live`, chain.gw.s1, 'POST', { ts: i + 1, positions: subjects.map(s => at(s, i + 1)), occupancy: null })
  if (r.status !== 204) throw new Error(`snapshot ${i}: ${r.status}`)
  ms.push(performance.now() - t)
}
const cpu = process.cpuUsage(cpu0)
ms.sort((a, b) => a - b)
console.log(JSON.stringify({ N, K, medianMs: +ms[N >> 1].toFixed(1), p90Ms: +ms[Math.floor(N * 0.9)].toFixed(1), cpuMs: Math.round((cpu.user + cpu.system) / 1000) }))
await chain.close()
process.exit(0)
