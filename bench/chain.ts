// `npm run bench -- chain`: the central side at chain scale, on this machine. N simulated gateways
// post batches of events (now and then a trigger.fired for a registered phone) and M phones hold
// SSE trigger streams, against 1 replica on SQLite, then 2 replicas on one PostgreSQL with one
// replica killed (SIGKILL) half-way: its gateways move to the other replica and re-send, its
// phones reconnect there with Last-Event-ID. Reports events/s accepted, trigger latency from the
// gateway's post to the phone (p50/p99), each replica's RSS, and what the kill cost (failed
// posts, triggers lost or repeated). Sizes are flags: --gateways N --streams M --seconds S
// --batch B --every-ms T (the size is --gateways 1000 --streams 10000; a shared 2-core
// machine runs a small one, for correctness). --database-url uses an existing PostgreSQL database
// instead of a private cluster.
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { quantile } from '../shared/stats.ts'
import type { InstoreEvent } from '../shared/events.ts'
import { PgCluster } from '../test/helpers/postgres.ts'

const ADMIN = 'adm_bench_chain_0123456789'
const CAMPAIGNS = 10

export interface ChainOptions {
  gateways: number
  streams: number
  seconds: number
  batch: number
  everyMs: number
  databaseUrl?: string
}
export interface ChainRun {
  setup: string
  replicas: number
  gateways: number
  streams: number
  seconds: number
  eventsAccepted: number
  eventsPerS: number
  postsFailed: number
  triggers: { posted: number; received: number; lost: number; repeated: number; p50Ms: number | null; p99Ms: number | null }
  rssMb: number[]
  killed: boolean
}

interface Replica {
  child: ChildProcess
  url: string
  dead: boolean
}

async function startReplica(extra: string[]): Promise<Replica> {
  const child = spawn(
    process.execPath,
    [
      join('bin', 'instore-server.mjs'),
      '--port',
      '0',
      '--data',
      mkdtempSync(join(tmpdir(), 'chain-')),
      '--admin-token',
      ADMIN,
      '--registrations-per-minute',
      '1000000',
      '--connections-per-address',
      '1000000',
      ...extra
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, INSTORE_DATABASE_URL: '' } }
  )
  let out = ''
  child.stdout?.on('data', d => {
    out += d
  })
  child.stderr?.on('data', d => {
    out += d
  })
  const started = Date.now()
  for (;;) {
    const m = /"url":"(http:\/\/[0-9.:]+)"/.exec(out)
    if (m) return { child, url: m[1], dead: false }
    if (child.exitCode !== null || Date.now() - started > 60_000) throw new Error(`replica did not start: ${out}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

function rssMb(pid: number | undefined): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024
  } catch {
    return 0
  }
}

async function call<T>(url: string, token: string | null, method = 'GET', body?: unknown): Promise<{ status: number; body: T }> {
  const r = await fetch(url, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  const text = await r.text()
  return { status: r.status, body: (text ? JSON.parse(text) : null) as T }
}

/** One set-up: `replicas` servers on one database; a kill of the last one half-way when `kill`. */
async function run(name: string, o: ChainOptions, replicaArgs: string[], count: number, kill: boolean): Promise<ChainRun> {
  const replicas: Replica[] = []
  for (let i = 0; i < count; i++) replicas.push(await startReplica(replicaArgs))
  const alive = () => replicas.filter(r => !r.dead)
  const site = JSON.parse(readFileSync('sites/boutique.site.json', 'utf8')) as { storeId: string }
  const first = replicas[0].url
  try {
    const stores: Array<{ storeId: string; token: string }> = []
    for (let g = 0; g < o.gateways; g++) {
      const storeId = `chain-${g}`
      const r = await call<{ gatewayToken: string }>(`${first}/v1/stores`, ADMIN, 'POST', { site: { ...site, storeId } })
      if (r.status !== 201) throw new Error(`provisioning ${storeId}: ${r.status}`)
      stores.push({ storeId, token: r.body.gatewayToken })
    }
    for (let c = 0; c < CAMPAIGNS; c++) {
      await call(`${first}/v1/campaigns`, ADMIN, 'POST', {
        id: `c${c}`,
        stores: stores.map(s => s.storeId),
        when: { event: 'sector.dwell', sector: 'women', minDwellS: 30 },
        content: { title: `offer ${c}`, ttlMin: 60 }
      })
    }
    const phones: Array<{ deviceId: string; token: string; subject: string }> = []
    for (let p = 0; p < o.streams; p++) {
      const r = await call<{ deviceId: string; token: string; subject: string }>(`${replicas[p % count].url}/v1/devices`, null, 'POST', {
        consent: { presence: true, marketing: true }
      })
      if (r.status !== 201) throw new Error(`registration: ${r.status}`)
      phones.push(r.body)
    }

    // The phones: each holds a stream on one replica, and resumes on a live one from its last id.
    const postedAt = new Map<string, number>()
    const receivedAt = new Map<string, number>()
    let repeated = 0
    let stopping = false
    const controllers: AbortController[] = []
    const hold = async (phone: (typeof phones)[number], home: number): Promise<void> => {
      let last: string | undefined
      let at = home
      while (!stopping) {
        const ac = new AbortController()
        controllers.push(ac)
        const r = replicas[at % count].dead ? alive()[0] : replicas[at % count]
        try {
          const res = await fetch(`${r.url}/v1/devices/${phone.deviceId}/triggers`, {
            headers: { authorization: `Bearer ${phone.token}`, ...(last ? { 'last-event-id': last } : {}) },
            signal: ac.signal
          })
          const reader = (res.body as ReadableStream<Uint8Array>).getReader()
          const dec = new TextDecoder()
          let buf = ''
          for (;;) {
            const { value, done } = await reader.read()
            if (done) break
            buf += dec.decode(value)
            let end: number
            while ((end = buf.indexOf('\n\n')) >= 0) {
              const block = buf.slice(0, end)
              buf = buf.slice(end + 2)
              const id = /^id: (\d+)$/m.exec(block)?.[1]
              const data = /^data: (.*)$/m.exec(block)?.[1]
              if (id === undefined || data === undefined) continue
              last = id
              const t = (JSON.parse(data) as { triggerId: string }).triggerId
              if (receivedAt.has(t)) repeated++
              else receivedAt.set(t, performance.now())
            }
          }
        } catch {
          /* the replica went away, or the run ended */
        }
        at++
        if (!stopping) await new Promise(resolve => setTimeout(resolve, 100))
      }
    }
    const holders = phones.map((p, i) => hold(p, i))

    // The gateways: each posts to its replica every everyMs, and moves to a live one when it fails.
    let accepted = 0
    let failed = 0
    let n = 0
    let triggerN = 0
    const t0 = performance.now()
    const until = t0 + o.seconds * 1000
    const gateway = async (g: number): Promise<void> => {
      const { storeId, token } = stores[g]
      let home = g % count
      while (performance.now() < until) {
        const events: InstoreEvent[] = []
        for (let k = 0; k < o.batch; k++) {
          const i = ++n
          events.push({
            id: `e${g}-${i}`,
            type: i % 2 === 0 ? 'sector.enter' : 'sector.exit',
            storeId,
            subject: `h:${(i % 9973).toString(16).padStart(16, '0')}`,
            visitId: `v${g}-${i >> 1}`,
            seq: i,
            ts: Date.now(),
            shop: 'boutique',
            sector: 'women',
            ...(i % 2 === 1 ? { dwellMs: 42_000 } : {})
          })
        }
        // One trigger per batch, for a phone and campaign in turn (a device gets a campaign at most 3 times an hour).
        const t = triggerN++
        const trigger = t < phones.length * 3 * CAMPAIGNS ? `t${g}-${t}` : null
        if (trigger)
          events.push({
            id: trigger,
            type: 'trigger.fired',
            storeId,
            subject: phones[t % phones.length].subject,
            visitId: `tv${t}`,
            seq: ++n,
            ts: Date.now(),
            shop: 'boutique',
            sector: 'women',
            campaignId: `c${Math.floor(t / phones.length) % CAMPAIGNS}`,
            content: { title: 'x' }
          })
        const sent = performance.now()
        for (;;) {
          const r = replicas[home % count].dead ? alive()[0] : replicas[home % count]
          try {
            const res = await call<{ accepted: number }>(`${r.url}/v1/stores/${storeId}/events`, token, 'POST', { events })
            if (res.status === 200) {
              accepted += res.body.accepted
              if (trigger && !postedAt.has(trigger)) postedAt.set(trigger, sent)
              break
            }
            failed++
            if (res.status < 500) throw new Error(`the server refused a batch: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`)
          } catch (err) {
            if (/refused a batch/.test((err as Error).message)) throw err
            failed++
          }
          home++
          if (performance.now() > until + 10_000) break
        }
        const wait = o.everyMs - (performance.now() - sent)
        if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait))
      }
    }
    const killer =
      kill && count > 1
        ? (async () => {
            await new Promise(resolve => setTimeout(resolve, o.seconds * 500))
            const victim = replicas[count - 1]
            victim.dead = true
            victim.child.kill('SIGKILL')
            await once(victim.child, 'exit')
          })()
        : Promise.resolve()
    let peak = replicas.map(() => 0)
    const sampler = setInterval(() => {
      peak = replicas.map((r, i) => Math.max(peak[i], r.dead ? 0 : rssMb(r.child.pid)))
    }, 500)
    await Promise.all([...stores.map((_s, g) => gateway(g)), killer])
    const elapsedS = (performance.now() - t0) / 1000
    // Give the phones a moment to receive what was posted last.
    const deadline = performance.now() + 10_000
    while (performance.now() < deadline && [...postedAt.keys()].some(t => !receivedAt.has(t))) await new Promise(resolve => setTimeout(resolve, 100))
    clearInterval(sampler)
    stopping = true
    for (const ac of controllers) ac.abort()
    await Promise.all(holders)
    const lat = [...postedAt].flatMap(([t, at]) => (receivedAt.has(t) ? [(receivedAt.get(t) as number) - at] : [])).sort((a, b) => a - b)
    return {
      setup: name,
      replicas: count,
      gateways: o.gateways,
      streams: o.streams,
      seconds: o.seconds,
      eventsAccepted: accepted,
      eventsPerS: accepted / elapsedS,
      postsFailed: failed,
      triggers: {
        posted: postedAt.size,
        received: [...postedAt.keys()].filter(t => receivedAt.has(t)).length,
        lost: [...postedAt.keys()].filter(t => !receivedAt.has(t)).length,
        repeated,
        p50Ms: lat.length ? quantile(lat, 0.5) : null,
        p99Ms: lat.length ? quantile(lat, 0.99) : null
      },
      rssMb: peak.map(x => Math.round(x)),
      killed: kill && count > 1
    }
  } finally {
    for (const r of replicas)
      if (!r.dead && r.child.exitCode === null) {
        r.child.kill('SIGTERM')
        await once(r.child, 'exit')
      }
  }
}

export async function chain(o: ChainOptions): Promise<ChainRun[]> {
  const out: ChainRun[] = []
  out.push(await run('sqlite', o, [], 1, false))
  let cluster: PgCluster | null = null
  try {
    let url = o.databaseUrl
    if (url === undefined) {
      cluster = await PgCluster.start()
      url = await cluster.createDatabase('chain')
    }
    out.push(await run('postgres', o, ['--database-url', url], 2, true))
  } finally {
    cluster?.stopSync()
  }
  return out
}
