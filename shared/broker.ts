// An embedded aedes broker on a TCP port (0 = a free one), with optional TLS and MQTT over
// WebSockets listeners on the same broker (same credentials and ACLs). aedes 1.x speaks MQTT 3.1.1.
import { createServer, type Server, type Socket } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import { createServer as createHttpServer } from 'node:http'
import { readFileSync } from 'node:fs'
import { once } from 'node:events'
import type { Duplex } from 'node:stream'
import { Aedes, type AedesOptions, type Client } from 'aedes'
import { WebSocketServer, createWebSocketStream } from 'ws'
import { guardPacketSize } from './packet-guard.ts'
import { CONNECT_TIMEOUT_MS, ConnectionCap, DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './connection-cap.ts'
import { BoundedSessionStore, DEFAULT_SESSION_LIMITS, type SessionLimits } from './session-store.ts'

/**
 * A connection holding this much output it has not read is closed, bytes: aedes waits for a full
 * socket to drain (up to its drain timeout) while publishers go on, and meanwhile every message
 * for that subscriber waits in memory.
 */
export const MAX_UNSENT_BYTES = 4 * 1024 * 1024

export interface EmbeddedBroker {
  broker: Aedes
  server: Server
  port: number
  url: string
  /** Ports of the optional listeners (0 when off). */
  tlsPort: number
  wsPort: number
  /** Connections open, refused at a bound and closed for no CONNECT in time (connection-cap.ts). */
  connections: ConnectionCap
  /** Stored sessions and the messages queued for them, bounded (session-store.ts). */
  sessions: BoundedSessionStore
  /** Connections closed for holding more than MAX_UNSENT_BYTES of output unread. */
  slowReaders: { cut: number }
  close(): Promise<void>
}

export interface BrokerListenOptions {
  port?: number
  host?: string
  aedes?: AedesOptions
  /** MQTT over TLS: port and PEM files. */
  tls?: { port: number; cert: string; key: string }
  /** MQTT over WebSockets (for in-store apps and browsers): port. */
  wsPort?: number
  /** Largest MQTT packet a client may send, bytes (remaining length); a larger one closes its connection. Unset: no limit. */
  maxPacketBytes?: number
  /** Told of each connection closed for a packet over `maxPacketBytes` (the announced length). */
  onOversized?: (announced: number) => void
  /** Bounds on open connections, in all, per remote address and per login (default DEFAULT_CONNECTION_LIMITS). */
  limits?: Partial<ConnectionLimits>
  /** The login a connected client proved (logins on), for the per-login bound; undefined: none. */
  loginOf?: (client: Client) => string | undefined
  /** Bounds on stored sessions and their queues (default DEFAULT_SESSION_LIMITS). */
  sessions?: Partial<SessionLimits>
  /** The session store's clock, wall ms (tests move it). */
  now?: () => number
}

/** Closes anything with a callback-style close (servers, the broker). */
async function closed(s: { close(cb: () => void): unknown }): Promise<void> {
  await new Promise<void>(resolve => s.close(() => resolve()))
}

async function listen(server: { listen(port: number, host: string): unknown; address(): unknown }, port: number, host: string): Promise<number> {
  server.listen(port, host)
  await once(server as unknown as NodeJS.EventEmitter, 'listening')
  const a = server.address() as { port: number } | null
  return a?.port ?? 0
}

export async function startBroker(opts: BrokerListenOptions = {}): Promise<EmbeddedBroker> {
  const sessions = new BoundedSessionStore({ ...DEFAULT_SESSION_LIMITS, ...opts.sessions }, opts.now)
  const slow = { cut: 0 }
  const forward = opts.aedes?.authorizeForward
  const broker = await Aedes.createBroker({
    connectTimeout: CONNECT_TIMEOUT_MS,
    persistence: sessions,
    ...opts.aedes,
    authorizeForward: (client, packet) => {
      // A subscriber that does not read: its output waits in memory until aedes' drain timeout cuts it off.
      const conn = client.conn as Duplex
      if (conn.writableLength > MAX_UNSENT_BYTES) {
        if (!conn.destroyed) {
          slow.cut++
          conn.destroy()
        }
        return null
      }
      return forward ? forward(client, packet) : packet
    }
  })
  const host = opts.host ?? '127.0.0.1'
  const streams = new Set<Duplex>()
  const cap = new ConnectionCap({ ...DEFAULT_CONNECTION_LIMITS, ...opts.limits })
  broker.on('connectionError', (_client: unknown, err: Error) => {
    // aedes' own words when its connect timer fires (lib/client.js).
    if (err?.message === 'connect did not arrive in time') cap.connectTimeouts++
  })
  // Every listener's raw sockets are counted from the moment they are accepted, before a TLS
  // handshake or an HTTP upgrade: those hold a descriptor too, and would otherwise escape both bounds.
  // The MQTT stream over one (TLS, WebSocket) is marked connected through its raw socket.
  const rawOf = new WeakMap<Duplex, Socket>()
  broker.on('client', client => cap.connected(rawOf.get(client.conn) ?? client.conn, opts.loginOf?.(client)))
  const admit = (raw: Socket): boolean => {
    if (!cap.take(raw, raw.remoteAddress ?? '')) {
      raw.destroy()
      return false
    }
    raw.on('close', () => cap.release(raw))
    return true
  }
  const track = (s: Duplex, raw: Socket) => {
    rawOf.set(s, raw)
    streams.add(s)
    s.on('close', () => streams.delete(s))
    broker.handle(s as Socket)
    // After aedes' own listener, so its 'readable' keeps control of the reads (packet-guard.ts).
    if (opts.maxPacketBytes !== undefined) guardPacketSize(s, opts.maxPacketBytes, n => opts.onOversized?.(n))
  }
  /** Closes a raw socket, counted, that has not become an MQTT stream in the CONNECT timeout (TLS's own handshake timeout did not fire on one that sends nothing). */
  const untilConnect = (raw: Socket) => {
    raw.setTimeout(CONNECT_TIMEOUT_MS, () => {
      cap.connectTimeouts++
      raw.destroy()
    })
  }
  /** The raw socket under a TLS one, by its remote end (public API only; released on close). */
  const tlsRaw = new Map<string, Socket>()
  const endOf = (s: Socket) => `${s.remoteAddress}:${s.remotePort}`
  const server = createServer(s => {
    if (admit(s)) track(s, s)
  })
  const closers: Array<() => Promise<void>> = []
  let port = 0
  let tlsPort = 0
  let wsPort = 0
  try {
    port = await listen(server, opts.port ?? 0, host)
    closers.push(async () => await closed(server))
    if (opts.tls) {
      // A handshake gets the time a CONNECT gets (Node's default is 120 s).
      const tls = createTlsServer({ cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key), handshakeTimeout: CONNECT_TIMEOUT_MS }, s => {
        const raw = tlsRaw.get(endOf(s))
        raw?.setTimeout(0)
        if (raw) track(s, raw)
        else s.destroy()
      })
      tls.on('connection', (raw: Socket) => {
        if (!admit(raw)) return
        const end = endOf(raw)
        untilConnect(raw)
        tlsRaw.set(end, raw)
        raw.on('close', () => tlsRaw.delete(end))
      })
      tlsPort = await listen(tls, opts.tls.port, host)
      closers.push(async () => await closed(tls))
    }
    if (opts.wsPort !== undefined) {
      // An upgrade request gets the time a CONNECT gets (Node's defaults are minutes), checked
      // every second rather than every 30 s.
      const http = createHttpServer({ headersTimeout: CONNECT_TIMEOUT_MS, requestTimeout: CONNECT_TIMEOUT_MS, connectionsCheckingInterval: 1000 })
      // The HTTP timeouts start at a request's first byte: a socket that sends none needs its own.
      // ws sets the socket's timeout to 0 once upgraded.
      http.on('connection', (raw: Socket) => {
        if (!admit(raw)) return
        untilConnect(raw)
      })
      // A WebSocket message is held whole before the stream (and the packet guard) sees it: the
      // library's own limit (100 MiB by default) must be the packet limit, or one frame before any
      // login holds that much.
      const wss = new WebSocketServer({ server: http, ...(opts.maxPacketBytes !== undefined ? { maxPayload: opts.maxPacketBytes } : {}) })
      wss.on('connection', (ws, req) => {
        ws.on('error', err => {
          if ((err as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') opts.onOversized?.(opts.maxPacketBytes ?? 0)
        })
        track(createWebSocketStream(ws), req.socket)
      })
      wsPort = await listen(http, opts.wsPort, host)
      closers.push(async () => {
        for (const c of wss.clients) c.terminate()
        wss.close()
        await closed(http)
      })
    }
  } catch (err) {
    // A port already taken: release what did start (aedes' timers would keep the process alive,
    // a gateway that cannot listen hanging on instead of exiting for its supervisor to see).
    for (const c of closers) await c()
    await closed(broker)
    throw err
  }
  return {
    broker,
    server,
    port,
    url: `mqtt://${host}:${port}`,
    tlsPort,
    wsPort,
    connections: cap,
    sessions,
    slowReaders: slow,
    async close() {
      for (const s of streams) s.destroy()
      for (const c of closers) await c()
      await closed(broker)
    }
  }
}
