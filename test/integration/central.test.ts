import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InstoreClient, type Trigger } from '../../sdk/client.ts'
import type { Campaign } from '../../shared/campaigns.ts'
import { makeTrace } from '../helpers/sim.ts'
import { runBin, ROOT } from '../helpers/run.ts'
import { waitFor, waitSettled } from '../helpers/gateway.ts'
import { startServer, startGatewayProc, api } from '../helpers/procs.ts'
import { readServer } from '../helpers/postgres.ts'

const ADMIN = 'adm_test_token_0123456789'
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8'))
// A trace replayed faster than real time runs ahead of the clock; the server refuses events more
// than 5 minutes ahead, so a trace starts as far back as it lasts.
const nowIso = (durationS = 0) => new Date(Math.ceil(Date.now() / 1000 - durationS) * 1000).toISOString()

test("end to end: a registered shopper dwells in a campaign's sector and gets exactly one trigger", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'e2e-'))
  const server = await startServer(join(dir, 'server'), ADMIN)
  let gw: Awaited<ReturnType<typeof startGatewayProc>> | null = null
  let sub: { close(): void } | null = null
  try {
    const { trace, sim } = await makeTrace('boutique', { durationS: 600, seed: 8, start: nowIso(600) }, dir)
    // A shopper with the app who stays a minute or more in one sector.
    const stay = sim.truth.stays.find(s => s.subject !== null && s.exit - s.enter >= 60_000 && s.enter > sim.truth.windows[0][0] + 10_000)
    assert.ok(stay?.subject, 'the trace has a long stay')
    const store = await api<{ gatewayToken: string }>(`${server.url}/v1/stores`, ADMIN, 'POST', { site })
    assert.equal(store.status, 201)
    const campaign: Campaign = {
      id: 'dwell-offer',
      stores: ['boutique-1'],
      when: { event: 'sector.dwell', sector: stay.sector, minDwellS: 30 },
      cap: { cooldownS: 86400, perVisit: 1 },
      content: { title: 'Still browsing?', body: '10% off here', ttlMin: 120 }
    }
    assert.equal((await api(`${server.url}/v1/campaigns`, ADMIN, 'POST', campaign)).status, 201)
    // The shopper's phone registers; replay makes the simulated phone advertise the EIDs of the key the server issued.
    const phone = new InstoreClient({ baseUrl: server.url })
    const reg = await phone.register({ presence: true, marketing: true })
    const devices = join(dir, 'issued.devices.json')
    writeFileSync(devices, JSON.stringify([{ subject: stay.subject, key: reg.eid.key, k: reg.eid.k, consent: { presence: true, marketing: true } }]))
    const got: Trigger[] = []
    sub = phone.triggers(t => {
      got.push(t)
      void phone.ack(t.triggerId, 'delivered').then(async () => await phone.ack(t.triggerId, 'opened'))
    })

    gw = await startGatewayProc([
      '--site',
      join(ROOT, 'sites/boutique.site.json'),
      '--clock',
      'event',
      '--data',
      join(dir, 'gw'),
      '--central',
      server.url,
      '--token',
      store.body.gatewayToken
    ])
    await waitFor(() => /"config applied".*"devices":1,.*"campaigns":1/.test(gw?.out() ?? ''), 20_000, 'config')
    const r = await runBin('instore-replay', ['--trace', trace, '--devices', devices, '--broker', gw.mqtt])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    await waitFor(() => got.length >= 1, 60_000, 'the trigger on the phone')
    assert.equal(got[0].campaignId, 'dwell-offer')
    assert.equal(got[0].sector, stay.sector)
    await waitFor(
      async () => {
        const a = await api<{
          funnel: Array<{ campaign: string; fired: number; delivered: number; opened: number }>
          funnelBySector: Array<{ sector: string; fired: number; opened: number }>
        }>(`${server.url}/v1/analytics/stores/boutique-1`, ADMIN)
        const f = a.body.funnel.find(x => x.campaign === 'dwell-offer')
        const bySector = a.body.funnelBySector.find(x => x.sector === stay.sector)
        return f?.fired === 1 && f.delivered === 1 && f.opened === 1 && bySector?.fired === 1 && bySector.opened === 1
      },
      20_000,
      'the funnel to show fired → delivered → opened'
    )
    // Nothing left to send at the gateway, and no second trigger within a quiet second.
    const backlog = async () => Number(/instore_outbox_backlog(?:\{\})? (\d+)/.exec(await (await fetch(`${gw?.http}/metrics`)).text())?.[1] ?? -1)
    await waitFor(async () => (await backlog()) === 0, 20_000, 'the outbox to drain')
    assert.equal(await waitSettled(() => got.length, 1000, 20_000, "the phone's triggers to settle"), 1, 'exactly one trigger')
  } finally {
    sub?.close()
    await gw?.stop()
    await server.stop()
  }
})

test('server down for part of the trace: every event arrives once, each live trigger reaches the phone once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fault-'))
  let server = await startServer(join(dir, 'server'), ADMIN)
  const port = Number(new URL(server.url).port)
  let gw: Awaited<ReturnType<typeof startGatewayProc>> | null = null
  let subs: Array<{ close(): void }> = []
  try {
    const { trace, sim } = await makeTrace('boutique', { durationS: 900, seed: 12, start: nowIso(900) }, dir)
    const store = await api<{ gatewayToken: string }>(`${server.url}/v1/stores`, ADMIN, 'POST', { site })
    await api(`${server.url}/v1/campaigns`, ADMIN, 'POST', {
      id: 'any-dwell',
      stores: ['boutique-1'],
      when: { event: 'sector.dwell', minDwellS: 30 },
      cap: { perVisit: 1 },
      content: { title: 'Hello', ttlMin: 600 }
    } satisfies Campaign)
    // Every shopper with the app has a phone listening.
    const subjects = [...new Set(sim.truth.visits.map(v => v.subject).filter((s): s is string => s !== null))]
    const received = new Map<string, string[]>()
    const issued: Array<{ subject: string; key: string; k: number; consent: { presence: boolean; marketing: boolean } }> = []
    subs = await Promise.all(
      subjects.map(async s => {
        const c = new InstoreClient({ baseUrl: server.url })
        const reg = await c.register({ presence: true, marketing: true })
        issued.push({ subject: s, key: reg.eid.key, k: reg.eid.k, consent: { presence: true, marketing: true } })
        return c.triggers(t => received.set(s, [...(received.get(s) ?? []), t.triggerId]), { retryMs: 200 })
      })
    )
    gw = await startGatewayProc([
      '--site',
      join(ROOT, 'sites/boutique.site.json'),
      '--clock',
      'event',
      '--data',
      join(dir, 'gw'),
      '--central',
      server.url,
      '--token',
      store.body.gatewayToken
    ])
    await waitFor(() => /"config applied".*"campaigns":1/.test(gw?.out() ?? ''), 20_000, 'config')
    const devices = join(dir, 'issued.devices.json')
    writeFileSync(devices, JSON.stringify(issued))
    const lines = readFileSync(trace, 'utf8').trim().split('\n')
    const parts = [lines.slice(0, lines.length / 3), lines.slice(lines.length / 3, (2 * lines.length) / 3), lines.slice((2 * lines.length) / 3)]
    for (const [i, part] of parts.entries()) {
      const f = join(dir, `part${i}.jsonl`)
      await import('node:fs').then(fs => fs.writeFileSync(f, part.join('\n') + '\n'))
      if (i === 1) await server.stop('SIGKILL')
      const r = await runBin('instore-replay', ['--trace', f, '--devices', devices, '--broker', gw.mqtt])
      assert.equal(r.code, 0, r.stdout + r.stderr)
      if (i === 1) server = await startServer(join(dir, 'server'), ADMIN, port)
    }
    const metric = async (name: string) => Number(new RegExp(`${name}(?:\\{\\})? (\\d+)`).exec(await (await fetch(`${gw?.http}/metrics`)).text())?.[1] ?? -1)
    await waitFor(async () => (await metric('instore_outbox_backlog')) === 0, 60_000, 'the outbox to drain')
    const Database = (await import('better-sqlite3')).default
    const gdb = new Database(join(dir, 'gw', 'gateway.sqlite'), { readonly: true })
    const outbox = gdb.prepare('SELECT id, type FROM outbox').all() as Array<{ id: string; type: string }>
    gdb.close()
    const sdb = await readServer(join(dir, 'server'))
    const stored = await sdb.all<{ id: string }>('SELECT id FROM events')
    const pushed = await sdb.all<{ event_id: string }>('SELECT event_id FROM triggers')
    await sdb.close()
    assert.deepEqual(stored.map(r => r.id).sort(), outbox.map(r => r.id).sort(), 'every event arrived, once')
    const fired = outbox
      .filter(r => r.type === 'trigger.fired')
      .map(r => r.id)
      .sort()
    assert.ok(fired.length >= 2, `only ${fired.length} triggers fired`)
    assert.deepEqual(pushed.map(r => r.event_id).sort(), fired, 'every trigger within its TTL was pushed')
    await waitFor(() => [...received.values()].flat().length >= fired.length, 30_000, 'phones to catch up')
    const all = await waitSettled(() => [...received.values()].flat().sort(), 1000, 20_000, "the phones' triggers to settle")
    assert.deepEqual(all, fired, 'each phone got each of its triggers exactly once')
  } finally {
    for (const s of subs) s.close()
    await gw?.stop()
    await server.stop()
  }
})
