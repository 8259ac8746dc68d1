// `npm run bench -- chain [--gateways N] [--streams M] [--seconds S] [--batch B] [--every-ms T] [--database-url URL]`:
// the central side at chain scale, one SQLite replica against two PostgreSQL replicas (bench/chain.ts).
import { chain } from './chain.ts'

export async function chainPart(option: (name: string) => string | undefined): Promise<unknown> {
  const num = (name: string, fallback: number) => {
    const v = option(name)
    const n = v === undefined ? fallback : Number(v)
    if (!(Number.isInteger(n) && n > 0)) throw new Error(`--${name} wants a whole number above 0, got ${v}`)
    return n
  }
  const o = {
    gateways: num('gateways', 20),
    streams: num('streams', 200),
    seconds: num('seconds', 10),
    batch: num('batch', 50),
    everyMs: num('every-ms', 1000),
    databaseUrl: option('database-url')
  }
  console.log(`chain: ${o.gateways} gateways posting ${o.batch} events (and a trigger) every ${o.everyMs} ms, ${o.streams} phones holding SSE streams, ${o.seconds} s`)
  const runs = await chain(o)
  for (const r of runs) {
    const t = r.triggers
    const ms = (v: number | null) => (v === null ? '-' : `${v.toFixed(0)} ms`)
    console.log(
      `  ${r.setup.padEnd(8)} ${r.replicas} replica(s)${r.killed ? ', one killed half-way' : ''}: ${r.eventsPerS.toFixed(0)} events/s accepted (${r.eventsAccepted}), ${r.postsFailed} posts failed and re-sent;` +
        ` triggers ${t.posted} posted, ${t.received} received, ${t.lost} lost, ${t.repeated} repeated; latency p50 ${ms(t.p50Ms)} p99 ${ms(t.p99Ms)}; peak RSS ${r.rssMb.map(m => `${m} MB`).join(', ')}`
    )
  }
  return runs
}
