// npm start: the whole product on one machine. The central server (dashboard included), one
// store's gateway with its embedded broker, and simulated shoppers replayed in real time, with
// campaigns and a registered demo phone. Ctrl-C stops everything cleanly.
import { mkdirSync, rmSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { buildServer } from '../server/app.ts'
import { Gateway } from '../gateway/gateway.ts'
import { loadSiteFile } from '../shared/site.ts'
import { createLogger } from '../shared/log.ts'
import { JsonLinesWriter } from '../shared/trace.ts'
import { onStopSignal } from '../shared/cli.ts'
import { loadScenario } from '../simulators/scenario.ts'
import { Simulator } from '../simulators/engine.ts'
import { replay } from '../simulators/replay.ts'
import type { Campaign } from '../shared/campaigns.ts'

// INSTORE_DEMO_DATA: another folder for the demo's data (the browser test runs the demo in a temp folder).
const DATA = process.env.INSTORE_DEMO_DATA ?? 'data/demo'
const log = createLogger({ base: { name: 'demo' } })
const quiet = createLogger({ level: 'warn', base: { name: 'demo' } })

/** The preferred port when it is free, otherwise any free one. */
async function port(preferred: number): Promise<number> {
  return await new Promise(resolve => {
    const s = createServer()
    s.once('error', () => resolve(0))
    s.listen(preferred, '127.0.0.1', () => s.close(() => resolve(preferred)))
  })
}

async function main(): Promise<void> {
  rmSync(DATA, { recursive: true, force: true })
  mkdirSync(join(DATA, 'server'), { recursive: true })
  const site = loadSiteFile('sites/boutique.site.json')

  // Shoppers for the next two hours, starting now (the store is already busy).
  const start = new Date(Math.ceil(Date.now() / 1000) * 1000).toISOString()
  const sim = new Simulator(loadScenario('simulators/scenarios/boutique.json', { start, durationS: 7200 }))
  const tracePath = join(DATA, 'trace.jsonl')
  const w = new JsonLinesWriter(tracePath)
  for (const l of sim.lines()) await w.write(l)
  await w.close()

  const adminToken = 'adm_demo_' + Math.random().toString(36).slice(2, 12)
  // The demo registers every simulated shopper from this one address: lift the per-address limit.
  const { app } = await buildServer({ dataDir: join(DATA, 'server'), log: quiet, adminToken, limits: { registrationsPerWindow: 100_000 } })
  const serverUrl = await app.listen({ port: await port(8080), host: '127.0.0.1' })
  const call = async <T>(path: string, body: unknown, token = adminToken): Promise<T> => {
    const res = await fetch(serverUrl + path, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
    return (await res.json()) as T
  }
  const { gatewayToken } = await call<{ gatewayToken: string }>('/v1/stores', { site: site.file })
  const campaigns: Campaign[] = [
    ...(JSON.parse(readFileSync('examples/campaigns.boutique.json', 'utf8')) as Campaign[]),
    {
      id: 'browse-bonus',
      name: 'Browsing bonus',
      stores: [site.storeId],
      when: { event: 'sector.dwell', minDwellS: 20 },
      cap: { perVisit: 1 },
      content: { title: 'Take your time', body: 'A coffee on us at the till while you try things on', ttlMin: 30 }
    }
  ]
  for (const c of campaigns) await call('/v1/campaigns', c)
  const manager = await call<{ token: string }>('/v1/operators', { role: 'manager', stores: [site.storeId] })

  // Shoppers with the app register with consent, as their apps would; each simulated phone then
  // advertises the EIDs of the identity key the server issued it. The demo phone is the one who stops first.
  const w0 = sim.truth.windows[0][0]
  const firstStay = sim.truth.stays.filter(s => s.subject !== null && s.enter > w0 + 5_000 && s.exit - s.enter >= 30_000).sort((a, b) => a.enter - b.enter)[0]
  // Every app phone of the trace, passers-by included (the simulator lists them once the trace is written).
  const subjects = sim.devices().map(d => d.subject)
  let phone = { deviceId: '', token: '' }
  const devices: Array<{ subject: string; key: string; k: number }> = []
  for (const s of subjects) {
    const r = await call<{ deviceId: string; token: string; eid: { key: string; k: number } }>('/v1/devices', { consent: { presence: true, marketing: true } })
    devices.push({ subject: s, key: r.eid.key, k: r.eid.k })
    if (s === firstStay?.subject) phone = r
  }

  const gateway = new Gateway({
    site,
    port: await port(1883),
    host: '127.0.0.1',
    dataDir: join(DATA, 'gateway'),
    clock: 'wall',
    httpPort: await port(8081),
    prefix: 'instore',
    log: quiet,
    central: { url: serverUrl, token: gatewayToken, configEveryMs: 3000 }
  })
  await gateway.start()
  const client = await mqtt.connectAsync(gateway.mqttUrl)
  const abort = new AbortController()
  const replaying = replay(client, { trace: tracePath, devices, prefix: 'instore', speed: 1, batchMs: 200, batchMax: 50, qos: 0, signal: abort.signal }).catch(err =>
    log.error('replay stopped', { err: (err as Error).message })
  )

  const dashboard = `${serverUrl}/#token=${adminToken}&store=${site.storeId}`
  process.stdout.write(`
instore demo is running (simulated shoppers in real time, for two hours)

  dashboard      ${dashboard}
  demo phone     ${serverUrl}/phone#deviceId=${phone.deviceId}&token=${phone.token}
  admin token    ${adminToken}   (store manager: ${manager.token})
  MQTT broker    ${gateway.mqttUrl}   gateway metrics: http://127.0.0.1:${gateway.httpPort}/metrics
  API docs       ${serverUrl}/docs

The demo phone belongs to a shopper who starts browsing about ${firstStay ? Math.round((firstStay.enter - w0) / 1000) : '?'} s from now.
Press Ctrl-C to stop.

`)
  const ticker = setInterval(() => {
    log.info('status', { devices: gateway.pipeline?.trackedDevices ?? 0, events: gateway.presence?.events ?? 0, triggers: gateway.campaigns?.fired ?? 0 })
  }, 30_000)
  await onStopSignal()
  clearInterval(ticker)
  abort.abort()
  await replaying
  await client.endAsync()
  await gateway.stop()
  await app.close()
  log.info('demo stopped')
}

main().catch(err => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`)
  process.exitCode = 1
})
