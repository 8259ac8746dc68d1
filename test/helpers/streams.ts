// Server-Sent Event streams over real HTTP for the server tests: opened with a bearer header,
// read until closed, each event kept with its type and data.
import net from 'node:net'
import { api } from './procs.ts'
import type { Chain } from './replicas.ts'

export interface Opened {
  status: number
  /** The error code of a refused stream. */
  error: string | null
  /** Events received, in order. */
  events: Array<{ event: string; data: string; id: string | null }>
  /** Trigger ids received, in order. */
  triggers: string[]
  /** The server ended the stream. */
  ended: boolean
  close(): void
}

/** Opens an SSE stream at `path` with `token` and keeps reading it until closed. */
export async function openSse(url: string, path: string, token: string | null, headers: Record<string, string> = {}): Promise<Opened> {
  const ac = new AbortController()
  const res = await fetch(`${url}${path}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers }, signal: ac.signal })
  const out: Opened = { status: res.status, error: null, events: [], triggers: [], ended: false, close: () => ac.abort() }
  if (res.status !== 200) {
    out.error = ((await res.json()) as { error: string }).error
    return out
  }
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const dec = new TextDecoder()
  let text = ''
  void (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) {
          out.ended = true
          return
        }
        text += dec.decode(value, { stream: true })
        for (let at = text.indexOf('\n\n'); at >= 0; at = text.indexOf('\n\n')) {
          const chunk = text.slice(0, at)
          text = text.slice(at + 2)
          const data = /^data: (.*)$/m.exec(chunk)?.[1]
          if (data === undefined) continue
          const event = /^event: (.*)$/m.exec(chunk)?.[1] ?? 'message'
          out.events.push({ event, data, id: /^id: (.*)$/m.exec(chunk)?.[1] ?? null })
          if (event === 'trigger') out.triggers.push((JSON.parse(data) as { triggerId: string }).triggerId)
        }
      }
    } catch {
      /* aborted */
    }
  })()
  return out
}

/** A device's trigger stream. */
export async function openTriggers(url: string, deviceId: string, token: string): Promise<Opened> {
  return await openSse(url, `/v1/devices/${deviceId}/triggers`, token)
}

/** A metric's value as /metrics gives it (0 when absent). */
export async function metric(url: string, line: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  return Number(new RegExp(`^${line.replace(/[{}"]/g, m => `\\${m}`)} (\\d+)$`, 'm').exec(text)?.[1] ?? 0)
}

/** A campaign on s1 that fires on entering the sector `women`. */
export async function makeCampaign(chain: Chain, id: string, extra: Record<string, unknown> = {}): Promise<void> {
  const c = { id, stores: ['s1'], when: { event: 'sector.enter', sector: 'women' }, content: { title: `Offer ${id}`, url: 'https://example.com/', ttlMin: 30 }, ...extra }
  const r = await api(`${chain.replicas[0].url}/v1/campaigns`, chain.admin, 'POST', c)
  if (r.status !== 201) throw new Error(`campaign ${id}: ${r.status} ${JSON.stringify(r.body)}`)
}

/** s1's gateway posts a visit of `subject` and a trigger `id` of `campaignId` on it. */
export async function fire(chain: Chain, subject: string, id: string, campaignId: string): Promise<void> {
  const base = { storeId: 's1', subject, visitId: `V${id}`, ts: Date.now() - 1000, shop: 'boutique' }
  const events = [
    { ...base, id: `E${id}`, type: 'shop.enter', seq: 1 },
    { ...base, id, type: 'trigger.fired', seq: 2, sector: 'women', campaignId }
  ]
  const r = await api(`${chain.replicas[0].url}/v1/stores/s1/events`, chain.gw.s1, 'POST', { events })
  if (r.status !== 200) throw new Error(`events: ${r.status} ${JSON.stringify(r.body)}`)
}

/** A relay in front of `port` for one connection: `freeze` is the phone's path gone (nothing forwarded, nothing closed). */
export async function relay(port: number): Promise<{ url: string; freeze(): void; serverSideClosed: Promise<void>; close(): void }> {
  let up: net.Socket | null = null
  let down: net.Socket | null = null
  let closed: () => void = () => {}
  const serverSideClosed = new Promise<void>(r => {
    closed = r
  })
  const server = net.createServer(c => {
    down = c
    const u = net.connect(port, '127.0.0.1')
    up = u
    c.pipe(u)
    u.pipe(c)
    u.on('close', () => closed())
    u.on('error', () => {})
    c.on('error', () => {})
  })
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    freeze: () => {
      down?.unpipe(up as net.Socket)
      up?.unpipe(down as net.Socket)
      up?.pause()
      down?.destroy()
    },
    serverSideClosed,
    close: () => {
      up?.destroy()
      server.close()
    }
  }
}

/** A relay's server side closed within `ms`: a regression fails here instead of hanging the run. */
export async function closedWithin(r: { serverSideClosed: Promise<void> }, ms = 10_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the replaced stream's socket still open after ${ms} ms`)), ms)
  })
  try {
    await Promise.race([r.serverSideClosed, late])
  } finally {
    clearTimeout(timer)
  }
}
