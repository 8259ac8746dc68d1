// Soak (issue 27): days of a store with silent nights (no heartbeat, sensors switched on late),
// sensors dropping out for hours, randomized Wi-Fi MACs, fed through an external Mosquitto to the
// gateway as a process. On the way: the central server down for a while, the gateway killed with
// SIGKILL twice, Mosquitto restarted. Checked against the simulator's truth and the server's log.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer as createHttp, type Server } from 'node:http'
import { createConnection } from 'node:net'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { GatewayConfigT } from '../shared/gateway-config.ts'
import { materialFromFile } from '../gateway/ingest/identity.ts'
import type { InstoreEvent } from '../shared/events.ts'
import { isReading, type TraceLine } from '../shared/trace.ts'
import { evaluateEvents, defaultEvalOptions } from '../simulators/evaluate.ts'
import type { Truth } from '../simulators/engine.ts'
import { makeTrace } from '../test/helpers/sim.ts'
import { runBin, ROOT, freePort } from '../test/helpers/run.ts'
import { startGatewayProc, type Proc } from '../test/helpers/procs.ts'
import { waitFor } from '../test/helpers/gateway.ts'

export const MOSQUITTO = '/usr/sbin/mosquitto'

export interface SoakOptions {
  days: number
  durationS: number
  seed: number
  log?: (msg: string) => void
}

export interface SoakResult {
  days: number
  readings: number
  /** Readings the gateway refused (overload, a clock far ahead): each one lost. */
  refused: number
  events: number
  delivered: number
  resent: number
  duplicates: number
  undelivered: number
  truthVisits: number
  lostVisits: number
  falseVisits: number
  visitRecall: number
  rssDay1Mb: number
  rssEndMb: number
  maxDevices: number
  maxZoneTracks: number
  errorsLogged: string[]
  /** What the duplicates were (type, subject, visit, sector, ts, campaign), a few. */
  duplicateSamples: string[]
  /** Truth visits with no shop.enter for their subject and shop while they lasted: day, shop, start and end (s into the day). */
  missedVisits: string[]
}

interface Central {
  server: Server
  url: string
  down: boolean
  received: Map<string, number>
  events: InstoreEvent[]
  refused: number
}

/**
 * A central server that records every event id it is given and serves `config` once (then 304:
 * nothing changed); while `down` it drops connections.
 */
async function central(config: GatewayConfigT): Promise<Central> {
  const c: Central = { server: createHttp(), url: '', down: false, received: new Map(), events: [], refused: 0 }
  c.server.on('request', (req, res) => {
    if (c.down) {
      c.refused++
      req.socket.destroy()
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (d: Buffer) => chunks.push(d))
    req.on('end', () => {
      if (req.method === 'GET' && /\/config$/.test(req.url ?? '')) {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify(config))
        return
      }
      if (req.method !== 'POST' || !(req.url ?? '').endsWith('/events')) {
        res.writeHead(304)
        res.end()
        return
      }
      const events = (JSON.parse(Buffer.concat(chunks).toString()) as { events: InstoreEvent[] }).events
      for (const e of events) {
        const n = c.received.get(e.id) ?? 0
        if (n === 0) c.events.push(e)
        c.received.set(e.id, n + 1)
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ accepted: events.length, duplicates: 0 }))
    })
  })
  c.server.listen(0, '127.0.0.1')
  await once(c.server, 'listening')
  c.url = `http://127.0.0.1:${(c.server.address() as { port: number }).port}`
  return c
}

async function mosquitto(dir: string, port: number): Promise<ChildProcess> {
  writeFileSync(join(dir, 'm.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\npersistence false\n`)
  const m = spawn(MOSQUITTO, ['-c', join(dir, 'm.conf')], { stdio: 'ignore' })
  const probe = async (): Promise<boolean> =>
    await new Promise(resolve => {
      const s = createConnection(port, '127.0.0.1', () => {
        s.destroy()
        resolve(true)
      }).on('error', () => resolve(false))
    })
  await waitFor(probe, 10_000, 'mosquitto')
  return m
}

const metric = (text: string, re: RegExp): number => [...text.matchAll(new RegExp(re.source, 'gm'))].reduce((s, m) => s + Number(m[1]), 0)

function rssMb(pid: number | undefined): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid ?? 0}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

export async function soak(o: SoakOptions): Promise<SoakResult> {
  const say = o.log ?? (() => {})
  const quiet = {
    heartbeatDelayS: 120,
    offShare: 0.3,
    onWithinS: Math.min(1800, o.durationS / 4),
    dropoutsPerDay: 1,
    dropoutS: [o.durationS / 8, o.durationS / 3] as [number, number]
  }
  const { dir, trace, sim, devices } = await makeTrace('boutique', { days: o.days, durationS: o.durationS, seed: o.seed, quiet })
  // App phones advertise the EIDs of the simulator's keys: the replay takes them from this file, the
  // gateway gets their resolution material from the central server's config, as a live one would.
  const devicesFile = join(dir, 'soak.devices.json')
  writeFileSync(devicesFile, JSON.stringify(devices), { mode: 0o600 })
  const lines = readFileSync(trace, 'utf8')
    .trim()
    .split('\n')
    .map(l => JSON.parse(l) as TraceLine)
    .filter(l => !('truth' in l))
  // One segment per day; the third day in two halves (a SIGKILL in the middle of a day).
  const segments: TraceLine[][] = sim.truth.windows.map(([w0, w1]) => lines.filter(l => l.ts >= w0 && l.ts <= w1 + 60_000))
  if (segments.length >= 3) {
    const d = segments[2]
    segments.splice(2, 1, d.slice(0, d.length >> 1), d.slice(d.length >> 1))
  }
  const port = await freePort()
  let broker = await mosquitto(dir, port)
  const c = await central({ storeId: sim.truth.storeId, version: '1', full: true, devices: materialFromFile(devices), removed: [], erasures: [] })
  const data = join(dir, 'gw')
  const args = [
    '--site',
    join(ROOT, 'sites/boutique.site.json'),
    '--broker',
    `mqtt://127.0.0.1:${port}`,
    '--clock',
    'event',
    '--data',
    data,
    '--secret',
    'soak',
    '--central',
    c.url,
    '--token',
    'soak-token'
  ]
  let gw: Proc & { http: string } = await startGatewayProc(args)
  const outputs: string[] = []
  let taken = 0
  let readings = 0
  let rssDay1 = NaN
  let maxDevices = 0
  let maxTracks = 0
  const metrics = async (): Promise<string> => await (await fetch(`${gw.http}/metrics`)).text()
  const refusedNow = async (): Promise<number> => metric(await metrics(), /^instore_rejected_total\{reason="(?:overload|clock_ahead)"\} (\S+)$/)
  let refused = 0
  const restart = async (signal: NodeJS.Signals): Promise<void> => {
    refused += await refusedNow()
    outputs.push(gw.out())
    await gw.stop(signal)
    gw = await startGatewayProc(args)
    taken = 0
  }
  try {
    for (const [i, seg] of segments.entries()) {
      const file = join(dir, `seg-${i}.jsonl`)
      writeFileSync(file, seg.map(l => JSON.stringify(l)).join('\n') + '\n')
      if (i === 1) c.down = true
      const r = await runBin('instore-replay', ['--trace', file, '--broker', `mqtt://127.0.0.1:${port}`, '--qos', '1', '--devices', devicesFile], { timeoutMs: 3_600_000 })
      if (r.code !== 0) throw new Error(r.stdout + r.stderr)
      const n = seg.filter(isReading).length
      readings += n
      taken += n
      await waitFor(
        async () => {
          const m = await metrics()
          // Overload too: a reading refused for want of room is lost, and must fail the soak, not hang it.
          return (
            metric(m, /^instore_readings_total\{source="(?:ble|wifi)"\} (\S+)$/) + metric(m, /^instore_rejected_total\{reason="(?:late|overload|clock_ahead)"\} (\S+)$/) >= taken
          )
        },
        600_000,
        `segment ${i} processed`
      )
      const m = await metrics()
      maxDevices = Math.max(maxDevices, metric(m, /^instore_devices\{source="\w+"\} (\S+)$/))
      maxTracks = Math.max(maxTracks, metric(m, /^instore_zone_tracks (\S+)$/))
      say(
        `segment ${i + 1}/${segments.length}: ${n} readings, devices ${metric(m, /^instore_devices\{source="\w+"\} (\S+)$/)}, zone tracks ${metric(m, /^instore_zone_tracks (\S+)$/)}, RSS ${rssMb(gw.child.pid).toFixed(0)} MB`
      )
      if (i === 0) {
        rssDay1 = rssMb(gw.child.pid)
        await restart('SIGKILL')
      }
      if (i === 1) {
        // The server has been down a while: the outbox holds the day's events; it comes back.
        await waitFor(() => c.refused >= 2, 120_000, 'the uplink to try the dead server')
        c.down = false
        // Mosquitto restarts; the gateway reconnects and resubscribes.
        broker.kill('SIGTERM')
        await once(broker, 'exit')
        broker = await mosquitto(dir, port)
        await waitFor(async () => !/broker unreachable/.test(await (await fetch(`${gw.http}/healthz`)).text()), 60_000, 'the gateway back on the broker')
      }
      if (i === 2) await restart('SIGKILL')
    }
    const rssEnd = rssMb(gw.child.pid)
    refused += await refusedNow()
    await waitFor(async () => metric(await metrics(), /^instore_outbox_backlog (\S+)$/) === 0, 120_000, 'the outbox drained')
    // A planned stop closes the last open visits and hands them over.
    outputs.push(gw.out())
    await gw.stop('SIGTERM')
    const outbox = (await import('better-sqlite3')).default
    const db = new outbox(join(data, 'gateway.sqlite'), { readonly: true })
    const ids = (db.prepare('SELECT id FROM outbox').all() as Array<{ id: string }>).map(r => r.id)
    const unsent = (db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE sent = 0').get() as { n: number }).n
    db.close()
    const keys = new Map<string, number>()
    for (const e of c.events) {
      const k = JSON.stringify([e.type, e.subject, e.visitId, e.sector ?? null, e.ts, e.campaignId ?? null])
      keys.set(k, (keys.get(k) ?? 0) + 1)
    }
    const q = evaluateEvents(sim.truth, c.events, defaultEvalOptions).visits
    const errors = outputs
      .join('')
      .split('\n')
      .filter(l => l.includes('"level":"error"'))
    return {
      days: o.days,
      readings,
      refused,
      // The outbox keeps a delivered event an hour of event time: what it holds at the end, with
      // what the server took, is every event the gateway wrote.
      events: new Set([...ids, ...c.received.keys()]).size,
      delivered: c.received.size,
      resent: [...c.received.values()].reduce((s, n) => s + n - 1, 0),
      duplicates: [...keys.values()].reduce((s, n) => s + n - 1, 0),
      undelivered: ids.filter(id => !c.received.has(id)).length + unsent,
      truthVisits: q.truth,
      lostVisits: Math.round(q.truth * (1 - q.recall)),
      falseVisits: q.falseVisits,
      visitRecall: q.recall,
      rssDay1Mb: rssDay1,
      rssEndMb: rssEnd,
      maxDevices,
      maxZoneTracks: maxTracks,
      errorsLogged: errors.slice(0, 5),
      duplicateSamples: [...keys]
        .filter(([, n]) => n > 1)
        .map(([k]) => k)
        .slice(0, 5),
      missedVisits: missed(sim.truth, c.events).slice(0, 10)
    }
  } finally {
    await gw.stop('SIGKILL')
    broker.kill('SIGTERM')
    c.server.close()
  }
}

function missed(truth: Truth, events: InstoreEvent[]): string[] {
  const out: string[] = []
  for (const v of truth.visits) {
    const day = truth.windows.findIndex(([w0, w1]) => v.enter >= w0 + defaultEvalOptions.warmupMs && v.exit <= w1)
    if (day < 0 || v.subject === null) continue
    const w0 = truth.windows[day][0]
    if (!events.some(e => e.type === 'shop.enter' && e.subject === v.subject && e.shop === v.shop && e.ts <= v.exit && e.ts >= v.enter - 60_000)) {
      out.push(`day ${day + 1} ${v.shop} ${Math.round((v.enter - w0) / 1000)}-${Math.round((v.exit - w0) / 1000)} s`)
    }
  }
  return out
}
