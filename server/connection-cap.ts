// Open connections per caller address (docs/limits.md): the timeouts free a silent connection
// within seconds, but a client opening them faster than that would still take every socket the
// process may open. Counted by the TCP peer (an IPv6 one by its /64, callerKey), before any byte
// is read; a reverse proxy named in --trust-proxy carries many callers and is not capped here.
import { createRequire } from 'node:module'
import { type Server, type Socket } from 'node:net'
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

export class ConnectionCap {
  /** Connections closed on arrival because their address had `max` open. */
  refused = 0
  private readonly open = new Map<string, number>()
  constructor(
    private readonly max: number,
    private readonly trusted: (ip: string) => boolean
  ) {}

  attach(server: Server): void {
    server.on('connection', (socket: Socket) => {
      const ip = socket.remoteAddress
      if (ip === undefined) return
      const peer = plain(ip)
      if (this.trusted(ip)) return
      const key = callerKey(peer)
      const n = this.open.get(key) ?? 0
      if (n >= this.max) {
        this.refused++
        socket.destroy()
        return
      }
      this.open.set(key, n + 1)
      socket.once('close', () => {
        const left = (this.open.get(key) ?? 1) - 1
        if (left > 0) this.open.set(key, left)
        else this.open.delete(key)
      })
    })
  }

  metrics(): string[] {
    return ['# TYPE instore_server_connections_refused_total counter', `instore_server_connections_refused_total{limit="address"} ${this.refused}`]
  }
}
