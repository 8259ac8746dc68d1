// An embedded aedes broker on a TCP port (0 = a free one), with optional TLS and MQTT over
// WebSockets listeners on the same broker (same credentials and ACLs). aedes 1.x speaks MQTT 3.1.1.
import { createServer, type Server, type Socket } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import { createServer as createHttpServer } from 'node:http'
import { readFileSync } from 'node:fs'
import { once } from 'node:events'
import type { Duplex } from 'node:stream'
import { Aedes, type AedesOptions } from 'aedes'
import { WebSocketServer, createWebSocketStream } from 'ws'
import { guardPacketSize } from './packet-guard.ts'
import { CONNECT_TIMEOUT_MS, ConnectionCap, DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './connection-cap.ts'

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
  /** Bounds on open connections, in all and per remote address (default DEFAULT_CONNECTION_LIMITS). */
  limits?: Partial<ConnectionLimits>
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

/** Bounds a listener's sockets before they reach `track` (a TLS handshake, an HTTP upgrade): Node closes those past it. */
function backstop(s: Server, cap: ConnectionCap): void {
  s.maxConnections = cap.limits.maxConnections
  s.on('drop', () => cap.refused.total++)
}

export async function startBroker(opts: BrokerListenOptions = {}): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker({ connectTimeout: CONNECT_TIMEOUT_MS, ...opts.aedes })
  const host = opts.host ?? '127.0.0.1'
  const streams = new Set<Duplex>()
  const cap = new ConnectionCap({ ...DEFAULT_CONNECTION_LIMITS, ...opts.limits })
  broker.on('connectionError', (_client: unknown, err: Error) => {
    // aedes' own words when its connect timer fires (lib/client.js).
    if (err?.message === 'connect did not arrive in time') cap.connectTimeouts++
  })
  broker.on('client', client => cap.connected(client.conn))
  const track = (s: Duplex, address = (s as Socket).remoteAddress ?? '') => {
    if (!cap.take(s, address)) {
      s.destroy()
      return
    }
    streams.add(s)
    s.on('close', () => {
      streams.delete(s)
      cap.release(s)
    })
    broker.handle(s as Socket)
    // After aedes' own listener, so its 'readable' keeps control of the reads (packet-guard.ts).
    if (opts.maxPacketBytes !== undefined) guardPacketSize(s, opts.maxPacketBytes, n => opts.onOversized?.(n))
  }
  const server = createServer(s => track(s))
  const closers: Array<() => Promise<void>> = []
  let port = 0
  let tlsPort = 0
  let wsPort = 0
  try {
    port = await listen(server, opts.port ?? 0, host)
    closers.push(async () => await closed(server))
    if (opts.tls) {
      const tls = createTlsServer({ cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) }, s => track(s))
      // Handshakes not yet done hold descriptors too: the same total bounds them.
      backstop(tls, cap)
      tlsPort = await listen(tls, opts.tls.port, host)
      closers.push(async () => await closed(tls))
    }
    if (opts.wsPort !== undefined) {
      const http = createHttpServer()
      backstop(http, cap)
      // A WebSocket message is held whole before the stream (and the packet guard) sees it: the
      // library's own limit (100 MiB by default) must be the packet limit, or one frame before any
      // login holds that much.
      const wss = new WebSocketServer({ server: http, ...(opts.maxPacketBytes !== undefined ? { maxPayload: opts.maxPacketBytes } : {}) })
      wss.on('connection', (ws, req) => {
        ws.on('error', err => {
          if ((err as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') opts.onOversized?.(opts.maxPacketBytes ?? 0)
        })
        track(createWebSocketStream(ws), req.socket.remoteAddress ?? '')
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
    async close() {
      for (const s of streams) s.destroy()
      for (const c of closers) await c()
      await closed(broker)
    }
  }
}
