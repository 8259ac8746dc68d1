// Open connections per caller address (docs/limits.md): the timeouts free a silent connection
// within seconds, but a client opening them faster than that would still take every socket the
// process may open. Counted by the TCP peer (an IPv6 one by its /64, callerKey), before any byte
// is read; a reverse proxy named in --trust-proxy carries many callers and is not capped here.
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Server, Socket } from 'node:net'
import { callerKey } from './caller-address.ts'

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

export class ConnectionCap {
  /** Connections closed at a bound: a new one refused, or an idle one closed to make room. */
  readonly refused = { address: 0, total: 0 }
  private readonly open = new Map<string, number>()
  /** Every open connection in arrival order, and how many of its requests are being answered. */
  private readonly conns = new Map<Socket, { busy: number }>()
  constructor(
    private readonly max: number,
    private readonly trusted: (ip: string) => boolean,
    private readonly maxTotal = defaultMaxConnections()
  ) {}

  attach(server: Server): void {
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const e = this.conns.get(req.socket)
      if (!e) return
      e.busy++
      res.once('close', () => e.busy--)
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
      this.conns.set(socket, { busy: 0 })
      socket.once('close', () => this.conns.delete(socket))
    })
  }

  /**
   * Every address together, trusted proxies included: past maxTotal the process would run out of
   * open files. The oldest connection answering nothing (silent, or idle between requests) is closed
   * to make room, so strangers holding silent connections cannot lock anyone out; false when every
   * one is answering a request (the new one is then closed). Counted either way.
   */
  private roomForOneMore(): boolean {
    if (this.conns.size < this.maxTotal) return true
    this.refused.total++
    for (const [socket, e] of this.conns)
      if (e.busy === 0) {
        this.conns.delete(socket)
        socket.destroy()
        return true
      }
    return false
  }

  metrics(): string[] {
    return [
      '# TYPE instore_server_connections_refused_total counter',
      `instore_server_connections_refused_total{limit="address"} ${this.refused.address}`,
      `instore_server_connections_refused_total{limit="total"} ${this.refused.total}`
    ]
  }
}
