// How long the server waits on a client (docs/limits.md). Fastify turns Node's own request timeout
// off (0) by default: a connection that sends nothing, or sends its headers or body a byte at a
// time, would otherwise hold a socket for good, and enough of them exhaust the process's open files.
import type { ServerOptions } from 'node:http'

export interface ConnectionTimeouts {
  /** Time to receive a request's headers from its first byte (or from the connection, for the first request), ms: 408 INSTORE_TIMEOUT beyond, connection closed. */
  headersTimeoutMs: number
  /** Time to receive a whole request, headers and body, ms: 408 INSTORE_TIMEOUT beyond, connection closed. An open stream (SSE) was received in full and is not bound by it. A body trickled below minBodyBytesPerSecond is closed sooner. */
  requestTimeoutMs: number
  /** A kept-alive connection is closed after this long between two requests, ms. Never applied while a request is being received (headers/request timeouts) or answered: a slow handler is bounded by its own query timeouts, not by a socket kill. */
  idleTimeoutMs: number
  /** Bytes a request body must bring per second, measured over each 5 s once its headers are in, B/s: below, 408 INSTORE_TIMEOUT and the connection is closed (0: no minimum; connection-cap.ts). */
  minBodyBytesPerSecond: number
  /** Connections open at once from one caller address (an IPv6 /64), reverse proxies in trustProxy excepted; one more is closed on arrival (connection-cap.ts). */
  connectionsPerAddress: number
  /** Connections open at once on every address together (0: three quarters of the open-file limit less 32, connection-cap.ts); past it the oldest one answering nothing is closed to make room, else the one whose reply has been stalled longest, else the one receiving its body at the lowest pace, or the new one. */
  maxConnections: number
  /** A reply whose client takes none of its bytes for this long is cut, ms: its connection closed, counted in instore_server_connections_closed_total{reason="reply_stalled"} (connection-cap.ts); a config reply's token's turn given back, counted in instore_server_config_streams_cut_total{reason="stalled"} (reply-stall.ts). SSE streams keep streamStallMs. */
  replyStallMs: number
}

// A phone or a gateway sends its headers in one packet and a batch of events in well under a
// second on a good link; a gateway's full batch (up to the 4 MiB body limit) over a poor 3G uplink
// takes minutes, so the request timeout is long and a trickled body is closed by its pace instead
// (minBodyBytesPerSecond, far below any working link).
export const DEFAULT_TIMEOUTS: Readonly<ConnectionTimeouts> = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
  idleTimeoutMs: 30_000,
  // Above the trigger streams one address may hold (a shop's Wi-Fi, a carrier's NAT), with room for their requests.
  connectionsPerAddress: 512,
  minBodyBytesPerSecond: 1024,
  maxConnections: 0,
  // Twice the 10 s a gateway waits on a reply that stopped before giving up itself.
  replyStallMs: 20_000
})

/** What is wrong with these timeouts, one line each (none: usable). */
export function timeoutProblems(t: ConnectionTimeouts): string[] {
  const problems: string[] = []
  if (t.headersTimeoutMs > t.requestTimeoutMs) problems.push(`limits.headersTimeoutMs (${t.headersTimeoutMs}) must not exceed limits.requestTimeoutMs (${t.requestTimeoutMs})`)
  return problems
}

/** The fastify (and Node http) options that apply them. */
export function timeoutOptions(t: ConnectionTimeouts): { requestTimeout: number; connectionTimeout: number; keepAliveTimeout: number; http: ServerOptions } {
  return {
    requestTimeout: t.requestTimeoutMs,
    // No socket inactivity timeout (server.setTimeout): it destroyed a socket while its handler was
    // still working (a query waiting on a lock), an empty reply and nothing logged. A connection
    // that sends nothing at all is closed by headersTimeout, which Node counts from the connection;
    // one whose reply is never read, by replyStallMs (connection-cap.ts).
    connectionTimeout: 0,
    keepAliveTimeout: t.idleTimeoutMs,
    // Node looks for expired requests every connectionsCheckingInterval (30 s by default): checked
    // more often, a timeout is kept to within a quarter of itself (and at most a second).
    http: {
      headersTimeout: t.headersTimeoutMs,
      requestTimeout: t.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(t.headersTimeoutMs / 4)))
    }
  }
}
