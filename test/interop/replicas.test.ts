// Issue 29: several stateless replicas on one PostgreSQL database. A phone's stream held by
// replica B gets, exactly once, the trigger a gateway posted to replica A; B killed with SIGKILL,
// the phone resumes on A with Last-Event-ID and gets exactly what it missed; a campaign's cap and
// the registration rate limit hold across replicas (counted in the database, not per process); a
// token revoked on one replica ends the streams it holds on another. The live dashboard too: a
// snapshot posted to A reaches a dashboard on B once, and one connecting to B later gets it at
// once, with positions filtered by presence consent and erasure as on one process.
// Always on PostgreSQL (it is what replicas share), so it runs in the first test pass only.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { partTest } from '../helpers/parts.ts'
import { sharedCluster, TEST_ENGINE } from '../helpers/postgres.ts'
import { api, startProc, type Proc } from '../helpers/procs.ts'
import { waitFor } from '../helpers/gateway.ts'
import { ROOT } from '../helpers/run.ts'
import type { InstoreEvent } from '../../shared/events.ts'
import { enterFor } from '../helpers/visit.ts'

const ADMIN = 'adm_replicas_test_0123456789'
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string }

async function replica(databaseUrl: string, extra: string[] = []): Promise<Proc & { url: string }> {
  const p = await startProc(
    'instore-server',
    ['--port', '0', '--data', mkdtempSync(join(tmpdir(), 'replica-')), '--admin-token', ADMIN, '--database-url', databaseUrl, ...extra],
    /"server started"/
  )
  return { ...p, url: (/"url":"(http:\/\/[0-9.:]+)"/.exec(p.out()) as RegExpExecArray)[1] }
}

/** A phone's trigger stream, read as the SDK reads it: SSE events with their ids. */
function stream(url: string, token: string, lastEventId?: number) {
  const got: Array<{ id: number; triggerId: string }> = []
  const ac = new AbortController()
  const done = (async () => {
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, ...(lastEventId !== undefined ? { 'last-event-id': String(lastEventId) } : {}) },
      signal: ac.signal
    })
    assert.equal(res.status, 200)
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    const dec = new TextDecoder()
    let buf = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      buf += dec.decode(value)
      let end: number
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end)
        buf = buf.slice(end + 2)
        const id = /^id: (\d+)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (id !== undefined && data !== undefined) got.push({ id: Number(id), triggerId: (JSON.parse(data) as { triggerId: string }).triggerId })
      }
    }
  })().catch(() => {})
  return {
    got,
    close: () => {
      ac.abort()
      return done
    }
  }
}

/** A live dashboard's stream: the snapshots it receives, in order. */
function dashboard(url: string) {
  const got: Array<{ ts: number; positions: Array<{ subject: string }> }> = []
  const events: Array<{ id: string }> = []
  const state = { open: false }
  const ac = new AbortController()
  const done = (async () => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${ADMIN}` }, signal: ac.signal })
    assert.equal(res.status, 200)
    state.open = true
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    const dec = new TextDecoder()
    let buf = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      buf += dec.decode(value)
      let end: number
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end)
        buf = buf.slice(end + 2)
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (/^event: snapshot$/m.test(block) && data !== undefined) got.push(JSON.parse(data) as (typeof got)[number])
        if (/^event: event$/m.test(block) && data !== undefined) events.push(JSON.parse(data) as (typeof events)[number])
      }
    }
  })().catch(() => {})
  return {
    got,
    events,
    state,
    close: () => {
      ac.abort()
      return done
    }
  }
}

if (TEST_ENGINE === 'sqlite') {
  partTest(
    'postgresql',
    'two replicas on one PostgreSQL: a live snapshot or event posted to A reaches a dashboard on B once, a dashboard connecting to B gets the snapshot at once, consent and erasure hold',
    { timeout: 120_000 },
    async () => {
      const url = await (await sharedCluster()).createDatabase('replicas_live')
      const a = await replica(url)
      const b = await replica(url)
      const dashboards: Array<{ close: () => Promise<void> }> = []
      try {
        const gw = (await api<{ gatewayToken: string }>(`${a.url}/v1/stores`, ADMIN, 'POST', { site })).body.gatewayToken
        const register = async (presence: boolean) =>
          (await api<{ deviceId: string; token: string; subject: string }>(`${a.url}/v1/devices`, null, 'POST', { consent: { presence, marketing: false } })).body
        const yes = await register(true)
        const no = await register(false)
        const at = (subject: string) => ({ subject, ts: Date.now(), x: 1, y: 1, floor: 0, accuracyM: 2, shop: null, sector: null, source: 'ble' as const })
        const live = (r: { url: string }) => `${r.url}/v1/stores/${site.storeId}/live`
        // The live gate takes a store's snapshot at most every 500 ms on a replica (live-gate.ts): a gateway
        // posts one a second; this test posts back to back, so it waits its turn as the gate asks.
        const snap = async (to: { url: string }, ts: number, subjects: string[]) => {
          let status = 429
          for (let tries = 0; status === 429 && tries < 20; tries++) {
            if (tries > 0) await new Promise(r => setTimeout(r, 250))
            status = (await api(live(to), gw, 'POST', { ts, positions: subjects.map(at), occupancy: null })).status
          }
          assert.equal(status, 204)
        }

        const onB = dashboard(live(b))
        dashboards.push(onB)
        await waitFor(() => onB.state.open, 10_000, 'the dashboard on B')
        await snap(a, 1, [yes.subject, no.subject])
        await waitFor(() => onB.got.length === 1, 10_000, 'the snapshot on B')
        assert.deepEqual(
          onB.got[0].positions.map(p => p.subject),
          [yes.subject],
          'presence consent filters on every replica'
        )

        // Connecting to B afterwards: the latest snapshot at once, though B never took a post.
        const later = dashboard(live(b))
        dashboards.push(later)
        await waitFor(() => later.got.length === 1, 10_000, 'the latest snapshot on connecting to B')
        assert.equal(later.got[0].ts, 1)

        // Snapshots posted to either replica reach both dashboards once each, in order.
        await snap(b, 2, [yes.subject])
        await snap(a, 3, [yes.subject])
        await waitFor(() => onB.got.length >= 3 && later.got.length >= 3, 10_000, 'snapshots 2 and 3')
        await snap(a, 4, [])
        await waitFor(() => onB.got.length >= 4 && later.got.length >= 4, 10_000, 'snapshot 4')
        assert.deepEqual(
          onB.got.map(g => g.ts),
          [1, 2, 3, 4],
          'each snapshot once'
        )
        assert.deepEqual(
          later.got.map(g => g.ts),
          [1, 2, 3, 4],
          'each snapshot once'
        )

        // Events a gateway posts to A reach the dashboard on B once (in the notification, no row read).
        const enter = { id: 'live-e1', type: 'shop.enter', storeId: site.storeId, subject: yes.subject, visitId: 'live-v1', seq: 1, ts: Date.now(), shop: 'boutique' }
        assert.equal((await api(`${a.url}/v1/stores/${site.storeId}/events`, gw, 'POST', { events: [enter] })).status, 200)
        await waitFor(() => onB.events.length >= 1 && later.events.length >= 1, 10_000, 'the event on B')
        assert.deepEqual(
          onB.events.map(e => e.id),
          ['live-e1']
        )

        // An erasure on A drops a last snapshot that shows the shopper: a dashboard connecting to B
        // next gets the following snapshot first, never the one with the erased position.
        await snap(a, 5, [yes.subject])
        await waitFor(() => onB.got.length === 5, 10_000, 'snapshot 5')
        assert.equal((await api(`${a.url}/v1/devices/${yes.deviceId}`, yes.token, 'DELETE')).status, 204)
        const afterErasure = dashboard(live(b))
        dashboards.push(afterErasure)
        await waitFor(() => afterErasure.state.open, 10_000, 'the third dashboard on B')
        await snap(a, 6, [yes.subject])
        await waitFor(() => afterErasure.got.length >= 1, 10_000, 'snapshot 6 on the third dashboard')
        assert.deepEqual(
          afterErasure.got.map(g => [g.ts, g.positions.length]),
          [[6, 0]],
          'the erased shopper is never shown'
        )
      } finally {
        for (const d of dashboards) await d.close()
        await a.stop()
        await b.stop()
      }
    }
  )

  partTest(
    'postgresql',
    'two replicas on one PostgreSQL: a trigger crosses replicas once, Last-Event-ID resumes on the other after SIGKILL, caps, rate limits and revocations are shared',
    { timeout: 180_000 },
    async () => {
      const url = await (await sharedCluster()).createDatabase('replicas')
      const a = await replica(url, ['--registrations-per-minute', '4'])
      const b = await replica(url, ['--registrations-per-minute', '4'])
      const streams: Array<{ close: () => Promise<void> }> = []
      try {
        const gw = (await api<{ gatewayToken: string }>(`${a.url}/v1/stores`, ADMIN, 'POST', { site })).body.gatewayToken
        const campaign = {
          id: 'c1',
          stores: [site.storeId],
          when: { event: 'sector.dwell', sector: 'women', minDwellS: 30 },
          cap: { perVisit: 1 },
          content: { title: 'hello', ttlMin: 60 }
        }
        assert.equal((await api(`${b.url}/v1/campaigns`, ADMIN, 'POST', campaign)).status, 201, 'a campaign made on B')
        const dev = (await api<{ deviceId: string; token: string; subject: string }>(`${a.url}/v1/devices`, null, 'POST', { consent: { presence: true, marketing: true } })).body
        let n = 0
        const trigger = (visitId: string): InstoreEvent => ({
          id: `T${++n}`,
          type: 'trigger.fired',
          storeId: site.storeId,
          subject: dev.subject,
          visitId,
          seq: n,
          ts: Date.now(),
          shop: 'boutique',
          sector: 'women',
          campaignId: 'c1',
          content: { title: 'x' }
        })
        const post = async (to: string, events: InstoreEvent[]) => {
          // The server pushes a trigger only inside a visit it saw begin: each is opened first, in a post of its own.
          await api(`${to}/v1/stores/${site.storeId}/events`, gw, 'POST', { events: events.map(e => enterFor(e)) })
          return await api<{ accepted: number }>(`${to}/v1/stores/${site.storeId}/events`, gw, 'POST', { events })
        }

        // The phone on B, the gateway on A.
        const onB = stream(`${b.url}/v1/devices/${dev.deviceId}/triggers`, dev.token)
        streams.push(onB)
        await waitFor(async () => (await api<{ sseConnections: number }>(`${b.url}/healthz`, null)).body.sseConnections === 1, 10_000, 'the stream on B')
        assert.deepEqual((await post(a.url, [trigger('V1')])).body, { accepted: 1, duplicates: 0 })
        await waitFor(() => onB.got.length === 1, 10_000, 'the trigger on B')
        assert.equal(onB.got[0].triggerId, 'T1')

        // The cap is per visit, and counted in the database: the same visit posted to both replicas at once is pushed once.
        const [r2, r3] = await Promise.all([post(a.url, [trigger('V2')]), post(b.url, [trigger('V2')])])
        assert.equal(r2.body.accepted + r3.body.accepted, 2, 'both events stored')
        await waitFor(() => onB.got.length === 2, 10_000, 'one trigger of visit V2')

        // B dies without a goodbye; A takes a trigger meanwhile; the phone resumes on A from the last id it saw.
        const last = onB.got[onB.got.length - 1].id
        await b.stop('SIGKILL')
        await onB.close()
        assert.deepEqual((await post(a.url, [trigger('V3')])).body, { accepted: 1, duplicates: 0 })
        const onA = stream(`${a.url}/v1/devices/${dev.deviceId}/triggers`, dev.token, last)
        streams.push(onA)
        await waitFor(() => onA.got.length >= 1, 10_000, 'the missed trigger on A')
        await new Promise(resolve => setImmediate(resolve))
        assert.deepEqual(
          onA.got.map(g => g.triggerId),
          ['T4'],
          'exactly what it missed: nothing repeated, nothing lost'
        )
        const all = [...onB.got, ...onA.got].map(g => g.triggerId)
        assert.equal(new Set(all).size, all.length, 'no trigger twice')
        assert.equal(all.length, 3, 'V1, one of V2, V3')

        // Registrations are limited per caller across replicas: 4 per minute in all, not 4 per replica.
        const statuses: number[] = []
        for (const to of [a.url, a.url, a.url, a.url]) statuses.push((await api(`${to}/v1/devices`, null, 'POST', { consent: { presence: false, marketing: false } })).status)
        const c = await replica(url, ['--registrations-per-minute', '4'])
        try {
          statuses.push((await api(`${c.url}/v1/devices`, null, 'POST', { consent: { presence: false, marketing: false } })).status)
          // The first registration above (the phone's) counted too.
          assert.deepEqual(statuses, [201, 201, 201, 429, 429])

          // A token revoked on A ends the stream it holds open on C at once.
          const onC = stream(`${c.url}/v1/devices/${dev.deviceId}/triggers`, dev.token)
          streams.push(onC)
          await waitFor(async () => (await api<{ sseConnections: number }>(`${c.url}/healthz`, null)).body.sseConnections === 1, 10_000, 'the stream on C')
          const id = (await api<Array<{ id: string; deviceId: string | null }>>(`${a.url}/v1/tokens?role=device`, ADMIN)).body.find(t => t.deviceId === dev.deviceId)?.id
          assert.equal((await api(`${a.url}/v1/tokens/${id}`, ADMIN, 'DELETE')).status, 204)
          await waitFor(async () => (await api<{ sseConnections: number }>(`${c.url}/healthz`, null)).body.sseConnections === 0, 10_000, 'the stream on C to end')
        } finally {
          await c.stop()
        }
      } finally {
        for (const s of streams) await s.close()
        await a.stop()
        await b.stop()
      }
    }
  )
}
