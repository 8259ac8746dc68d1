// Open connections per caller address (docs/limits.md): the timeouts free a silent connection
// within seconds, but a client opening them faster than that would still take every socket the
// process may open. Counted by the TCP peer (an IPv6 one by its /64, callerKey), before any byte
// is read; a reverse proxy named in --trust-proxy carries many callers and is not capped here.
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Server, Socket } from 'node:net'
import { callerKey } from './caller-address.ts'
import { hasOwnStallRule } from './hubs/own-stall.ts'
import { taken } from './reply-stall.ts'

// fastify's own copy of proxy-addr, so that what --trust-proxy trusts here is exactly what fastify
// trusts for X-Forwarded-For (addresses, CIDRs, netmasks, its names, IPv4-mapped peers).
const proxyAddr = createRequire(createRequire(import.meta.url).resolve('fastify'))('@fastify/proxy-addr') as {
  compile(list: string[]): (addr: string, i: number) => boolean
}

/** Whether a peer is one of the proxies of --trust-proxy (comma-separated); throws TrustProxyError on an entry proxy-addr refuses. */
export function trustedPeers(trustProxy: string | undefined): (ip: string) => boolean {
  const items = (trustProxy ?? '')
    .split(',')
    .map(x => x.trim())
    .filter(x => x !== '')
  if (items.length === 0) return () => false
  for (const item of items) {
    try {
      proxyAddr.compile([item])
    } catch (e) {
      throw new TrustProxyError(item, (e as Error).message)
    }
  }
  const trust = proxyAddr.compile(items)
  return ip => trust(ip, 0)
}

export class TrustProxyError extends Error {
  constructor(
    readonly item: string,
    reason: string
  ) {
    super(`--trust-proxy: "${item}" is not an address, a CIDR (10.0.0.0/8), a netmask (10.0.0.0/255.0.0.0) or one of loopback, linklocal, uniquelocal (${reason})`)
  }
}

/** An IPv4-mapped IPv6 peer (a dual-stack listener) as its IPv4 address. */
const plain = (ip: string) => (ip.toLowerCase().startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip)

/** The process's soft open-file limit (RLIMIT_NOFILE, Linux /proc), or undefined where it cannot be read. */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

/** Connections open at once on all addresses when not configured: a share of the open-file limit, leaving room for the database, logs and the process's own files. */
export function defaultMaxConnections(nofile = openFileLimit()): number {
  return nofile === undefined ? 4096 : Math.max(32, Math.floor(nofile * 0.75) - 32)
}

/** How the connection layer judges a request body still arriving (docs/security.md, slow bodies). */
export interface BodyPace {
  /** Bytes a request body must bring in every window once its headers are in, per second: below, 408 and the connection is closed. 0: no minimum. */
  minBytesPerSecond: number
  /** Window over which the pace is measured, ms; the first one is the grace a body gets to start. */
  windowMs: number
  /** A connection younger than this (silent since it opened or since its last answer, or a request whose body began) is not closed to make room, ms: else a stranger's own arrivals close an honest caller's connection before its request is read. */
  graceMs: number
  /** A reply whose client takes none of its bytes for this long is cut, its connection closed, ms (limits.replyStallMs); an SSE stream and a config reply keep their own rules. */
  replyStallMs: number
  /** Monotonic clock, ms (injected so tests control time). */
  now: () => number
}

export const DEFAULT_BODY_PACE: Readonly<BodyPace> = Object.freeze({ minBytesPerSecond: 1024, windowMs: 5000, graceMs: 500, replyStallMs: 20_000, now: () => performance.now() })

/**
 * Requests one connection may have waiting for their replies at once: Node answers pipelined
 * requests in order, building each later reply in memory while an earlier one is still being sent,
 * so 80 pipelined GET /docs on a connection that read nothing held 80 replies (tester, s13). Past
 * it the connection is closed; browsers and the SDK send one request at a time.
 */
export const MAX_PIPELINED = 16

/** One open connection: how many of its requests are being answered, and the body it is receiving, if any. */
interface Conn {
  busy: number
  /** Its replies not yet closed, in order: the first is the one being sent. */
  replies: ServerResponse[]
  /** Bytes the kernel had taken of its replies when last seen to take more, and when. */
  sent: { bytes: number; at: number }
  /** When it last began answering nothing: opened, or its last request answered. */
  quietSince: number
  body?: { req: IncomingMessage; startAt: number; startBytes: number; markAt: number; markBytes: number }
}

export type ClosedReason = 'idle_at_cap' | 'slow_body_at_cap' | 'slow_body' | 'reply_stalled' | 'stalled_reply_at_cap' | 'pipelined'

export class ConnectionCap {
  /** Connections closed at a bound: a new one refused, or an idle one closed to make room. */
  readonly refused = { address: 0, total: 0 }
  /** Open connections the cap or the pace closed, by why. */
  readonly closed: Record<ClosedReason, number> = { idle_at_cap: 0, slow_body_at_cap: 0, slow_body: 0, reply_stalled: 0, stalled_reply_at_cap: 0, pipelined: 0 }
  private readonly open = new Map<string, number>()
  /** Every open connection in arrival order. */
  private readonly conns = new Map<Socket, Conn>()
  private timer: NodeJS.Timeout | undefined
  constructor(
    private readonly max: number,
    private readonly trusted: (ip: string) => boolean,
    private readonly maxTotal = defaultMaxConnections(),
    private readonly pace: BodyPace = DEFAULT_BODY_PACE
  ) {}

  attach(server: Server): void {
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const e = this.conns.get(req.socket)
      if (!e) return
      e.busy++
      e.replies.push(res)
      const at = this.pace.now()
      const bytes = req.socket.bytesRead
      e.body = { req, startAt: at, startBytes: bytes, markAt: at, markBytes: bytes }
      res.once('close', () => {
        e.busy--
        e.replies.splice(e.replies.indexOf(res), 1)
        e.quietSince = this.pace.now()
        if (e.body?.req === req) e.body = undefined
      })
      if (e.busy > MAX_PIPELINED) {
        this.closed.pipelined++
        this.conns.delete(req.socket)
        req.socket.destroy()
      }
    })
    server.on('connection', (socket: Socket) => {
      const ip = socket.remoteAddress
      if (ip === undefined) return
      const peer = plain(ip)
      if (!this.trusted(ip)) {
        const key = callerKey(peer)
        const n = this.open.get(key) ?? 0
        if (n >= this.max) {
          this.refused.address++
          socket.destroy()
          return
        }
        if (!this.roomForOneMore()) {
          socket.destroy()
          return
        }
        this.open.set(key, n + 1)
        socket.once('close', () => {
          const left = (this.open.get(key) ?? 1) - 1
          if (left > 0) this.open.set(key, left)
          else this.open.delete(key)
        })
      } else if (!this.roomForOneMore()) {
        socket.destroy()
        return
      }
      this.conns.set(socket, { busy: 0, replies: [], sent: { bytes: 0, at: this.pace.now() }, quietSince: this.pace.now() })
      socket.once('close', () => this.conns.delete(socket))
    })
    // A quarter of each bound: a slow body or a stalled reply is closed within 1.25 bounds of its last good window.
    const every = Math.min(this.pace.minBytesPerSecond > 0 ? this.pace.windowMs : Number.POSITIVE_INFINITY, this.pace.replyStallMs)
    this.timer = setInterval(
      () => {
        if (this.pace.minBytesPerSecond > 0) this.checkPace()
        this.checkReplies()
      },
      Math.max(50, Math.floor(every / 4))
    )
    this.timer.unref()
    server.once('close', () => clearInterval(this.timer))
  }

  /**
   * Whether a connection's reply has bytes waiting that the kernel has not taken for `ms` (its
   * client reads nothing); a reply still being built, or read however slowly, is not. A stream
   * (SSE) and a config reply, which keep rules of their own (hubs/sse.ts, reply-stall.ts), never are.
   */
  private stalled(socket: Socket, e: Conn, now: number, ms: number): boolean {
    const res = e.replies[0]
    const bytes = taken(socket)
    if (res === undefined || hasOwnStallRule(res) || socket.writableLength === 0 || bytes !== e.sent.bytes) {
      e.sent = { bytes, at: now }
      return false
    }
    return now - e.sent.at >= ms
  }

  /** Cuts every reply no byte of which was taken for replyStallMs: before, a reply nobody read kept its connection, and its place under the caps, for as long as TCP kept the socket. */
  private checkReplies(): void {
    const now = this.pace.now()
    for (const [socket, e] of this.conns) {
      if (!this.stalled(socket, e, now, this.pace.replyStallMs)) continue
      this.closed.reply_stalled++
      this.conns.delete(socket)
      socket.destroy()
    }
  }

  /** The body a connection is still receiving (headers in, body not complete), if any: a response being streamed (SSE) has its request complete. */
  private receiving(e: Conn): Conn['body'] {
    return e.body !== undefined && !e.body.req.complete ? e.body : undefined
  }

  /**
   * A body that brings fewer than minBytesPerSecond over a window is answered 408 and closed: a
   * byte a second kept a socket until the request timeout, and a few hundred of them filled the
   * total cap while each looked busy. A slow but working link (a gateway's batch over poor 3G)
   * brings far more than the minimum and is bound by the request timeout only.
   */
  private checkPace(): void {
    const now = this.pace.now()
    for (const [socket, e] of this.conns) {
      const b = this.receiving(e)
      if (!b || now - b.markAt < this.pace.windowMs) continue
      const bytes = socket.bytesRead
      if (bytes - b.markBytes < (this.pace.minBytesPerSecond * (now - b.markAt)) / 1000) {
        this.closed.slow_body++
        this.conns.delete(socket)
        timeout(socket, 'the request body arrived too slowly')
      } else {
        b.markAt = now
        b.markBytes = bytes
      }
    }
  }

  /**
   * Every address together, trusted proxies included: past maxTotal the process would run out of
   * open files. The oldest connection answering nothing (silent, or idle between requests) past the
   * grace is closed to make room; failing one, the one whose reply has been stalled longest past the
   * grace (its client reads nothing); failing one, the connection receiving its body at the lowest pace since its
   * headers (a trickle, not a slow honest upload nor a response being streamed); false when every
   * one is answering a request (the new one is then closed). Counted either way.
   */
  private roomForOneMore(): boolean {
    if (this.conns.size < this.maxTotal) return true
    this.refused.total++
    const now = this.pace.now()
    for (const [socket, e] of this.conns)
      if (e.busy === 0 && now - e.quietSince >= this.pace.graceMs) {
        this.conns.delete(socket)
        this.closed.idle_at_cap++
        socket.destroy()
        return true
      }
    let stalled: { socket: Socket; since: number } | undefined
    for (const [socket, e] of this.conns) if (this.stalled(socket, e, now, this.pace.graceMs) && (!stalled || e.sent.at < stalled.since)) stalled = { socket, since: e.sent.at }
    if (stalled) {
      this.conns.delete(stalled.socket)
      this.closed.stalled_reply_at_cap++
      stalled.socket.destroy()
      return true
    }
    let slowest: { socket: Socket; pace: number } | undefined
    for (const [socket, e] of this.conns) {
      const b = this.receiving(e)
      if (!b || now - b.startAt < this.pace.graceMs) continue
      const pace = (socket.bytesRead - b.startBytes) / Math.max(1, now - b.startAt)
      if (!slowest || pace < slowest.pace) slowest = { socket, pace }
    }
    if (!slowest) return false
    this.conns.delete(slowest.socket)
    this.closed.slow_body_at_cap++
    timeout(slowest.socket, 'the server is full and this request body was the slowest arriving')
    return true
  }

  metrics(): string[] {
    return [
      '# TYPE instore_server_connections_refused_total counter',
      `instore_server_connections_refused_total{limit="address"} ${this.refused.address}`,
      `instore_server_connections_refused_total{limit="total"} ${this.refused.total}`,
      '# TYPE instore_server_connections_closed_total counter',
      ...Object.entries(this.closed).map(([reason, n]) => `instore_server_connections_closed_total{reason="${reason}"} ${n}`)
    ]
  }
}

/** Answers 408 INSTORE_TIMEOUT on a connection whose request is still arriving (nothing was answered on it yet) and closes it. */
function timeout(socket: Socket, message: string): void {
  const body = JSON.stringify({ error: 'INSTORE_TIMEOUT', message })
  if (socket.writable)
    socket.end(`HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
  // end() waits for the peer to read; a peer that never does must not keep the file open.
  socket.destroySoon()
  setTimeout(() => socket.destroy(), 1000).unref()
}
