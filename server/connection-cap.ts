// Open connections per caller address (docs/limits.md): the timeouts free a silent connection
// within seconds, but a client opening them faster than that would still take every socket the
// process may open. Counted by the TCP peer (an IPv6 one by its /64, callerKey), before any byte
// is read; a reverse proxy named in --trust-proxy carries many callers and is not capped here.
import { BlockList, isIPv6, type Server, type Socket } from 'node:net'
import { callerKey } from './caller-address.ts'

// proxy-addr's names, as fastify's trustProxy takes them.
const NAMED: Record<string, string[]> = {
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']
}

/** The addresses of --trust-proxy (addresses, CIDRs, proxy-addr's names; comma-separated). */
export function trustedPeers(trustProxy: string | undefined): BlockList {
  const list = new BlockList()
  for (const item of (trustProxy ?? '').split(',').flatMap(x => NAMED[x.trim()] ?? [x.trim()])) {
    if (item === '') continue
    const [address, bits] = item.split('/') as [string, string | undefined]
    const type = isIPv6(address) ? 'ipv6' : 'ipv4'
    if (bits === undefined) list.addAddress(address, type)
    else list.addSubnet(address, Number(bits), type)
  }
  return list
}

/** An IPv4-mapped IPv6 peer (a dual-stack listener) as its IPv4 address. */
const plain = (ip: string) => (ip.toLowerCase().startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip)

export class ConnectionCap {
  /** Connections closed on arrival because their address had `max` open. */
  refused = 0
  private readonly open = new Map<string, number>()
  constructor(
    private readonly max: number,
    private readonly trusted: BlockList
  ) {}

  attach(server: Server): void {
    server.on('connection', (socket: Socket) => {
      const ip = socket.remoteAddress
      if (ip === undefined) return
      const peer = plain(ip)
      if (this.trusted.check(peer, isIPv6(peer) ? 'ipv6' : 'ipv4')) return
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
