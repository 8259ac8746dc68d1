// Server-Sent Events over a hijacked fastify reply: headers, keep-alive comments every 15 s
// (proxies drop idle streams), and cleanup when the client goes away. A stream opened with a
// token is registered under the token's id, so that revoking the token ends it at once.
// A client that stops reading (a laptop asleep, a stalled proxy) must not make the server keep
// everything sent to it: once the socket's buffer is full, what follows waits in a queue of at
// most `queueBytes` (an event marked as replaceable, the dashboard's snapshot, keeps only its
// latest), and a stream whose queue would overflow, or whose socket stays full `stallMs`, is
// destroyed (its buffers freed, its place given back) and counted. A phone reconnects and resumes
// from its last event id; a dashboard reconnects and reads the latest snapshot.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ownStallRule } from './own-stall.ts'

export interface EventStream {
  send(event: string, data: string, id?: number | string): void
  /** Ends the stream from the server's side. */
  close(): void
  /** Drops the queued, not yet written, events named `event` (a snapshot erased since it was queued). */
  discard(event: string): void
  /** Drops the queued, not yet written, events whose text `drop` names (events about an erased shopper). */
  discardWhere(drop: (text: string) => boolean): void
}

export interface StreamBuffering {
  /** Bytes an unread stream may queue beyond its socket's buffer before it is dropped. */
  streamQueueBytes: number
  /** How long a stream's socket may stay full before it is dropped, ms. */
  streamStallMs: number
}
export const DEFAULT_STREAM_BUFFERING: Readonly<StreamBuffering> = Object.freeze({ streamQueueBytes: 1024 * 1024, streamStallMs: 60_000 })

/** Why a stream was ended by the server (instore_server_streams_dropped_total's `reason`). */
export type DropReason = 'slow_reader'

interface Streams {
  buffering: Readonly<StreamBuffering>
  /** Each open stream's bytes held here: its socket's buffer and its queue. */
  open: Set<() => number>
  dropped: Record<DropReason, number>
}

const byToken = new WeakMap<FastifyInstance, Map<string, Set<() => void>>>()
const byApp = new WeakMap<FastifyInstance, Streams>()

function streamsOf(app: FastifyInstance): Streams {
  let s = byApp.get(app)
  if (!s) {
    s = { buffering: DEFAULT_STREAM_BUFFERING, open: new Set(), dropped: { slow_reader: 0 } }
    byApp.set(app, s)
  }
  return s
}

/** Sets how much an unread stream of this server may hold (before any stream opens). */
export function configureStreams(app: FastifyInstance, buffering: Readonly<StreamBuffering>): void {
  streamsOf(app).buffering = Object.freeze({ streamQueueBytes: buffering.streamQueueBytes, streamStallMs: buffering.streamStallMs })
}

/** /metrics lines: streams dropped by reason, and the bytes every open stream holds now. */
export function streamMetrics(app: FastifyInstance): string[] {
  const s = streamsOf(app)
  let buffered = 0
  for (const held of s.open) buffered += held()
  return [
    '# TYPE instore_server_streams_dropped_total counter',
    ...Object.entries(s.dropped).map(([r, n]) => `instore_server_streams_dropped_total{reason="${r}"} ${n}`),
    '# TYPE instore_server_streams_buffered_bytes gauge',
    `instore_server_streams_buffered_bytes ${buffered}`
  ]
}

/** Ends every open stream authenticated with this token id; returns how many. */
export function closeStreamsOf(app: FastifyInstance, tokenId: string): number {
  const set = byToken.get(app)?.get(tokenId)
  if (!set) return 0
  const n = set.size
  for (const end of [...set]) end()
  return n
}

interface Queued {
  text: string
  bytes: number
  /** The event's name when only its latest is worth sending. */
  latest: string | null
}

/**
 * Opens the stream. Events named in `latestOnly` replace one another while the client is behind
 * (a snapshot supersedes the one before it); every other event is queued in order.
 */
export function openEventStream(req: FastifyRequest, reply: FastifyReply, onClose: () => void, latestOnly: readonly string[] = []): EventStream {
  reply.hijack()
  const res = reply.raw
  // Exempt from the idle timeout (timeouts.ts): a quiet stream is a healthy one; its pings and the
  // stall timer below are what end a stream whose client has gone or stopped reading.
  req.raw.socket?.setTimeout(0)
  const streams = streamsOf(req.server)
  const { streamQueueBytes: queueBytes, streamStallMs: stallMs } = streams.buffering
  ownStallRule(res)
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' })
  const queue: Queued[] = []
  /** Bytes queued in all, and of them those of events that are not replaceable. */
  let queued = 0
  let others = 0
  let behind = false
  let stall: NodeJS.Timeout | null = null
  let closed = false
  /** Ended from here (a token revoked): a socket that never drains is destroyed, not counted as a slow reader. */
  let ending = false
  const drop = () => {
    if (closed) return
    if (!ending) streams.dropped.slow_reader++
    // destroy, not end: end would wait for the unread bytes to be flushed, keeping them.
    res.destroy()
  }
  const write = (text: string) => {
    if (res.write(text) || behind) return
    behind = true
    stall = setTimeout(drop, stallMs)
    stall.unref()
  }
  const drain = () => {
    behind = false
    if (stall) clearTimeout(stall)
    stall = null
    while (queue.length > 0 && !behind && !closed && !res.writableEnded) {
      const q = queue.shift() as Queued
      queued -= q.bytes
      if (q.latest === null) others -= q.bytes
      write(q.text)
    }
  }
  res.on('drain', drain)
  const push = (text: string, latest: string | null) => {
    if (closed || res.destroyed || res.writableEnded) return
    if (!behind) return write(text)
    if (latest !== null) {
      const at = queue.findIndex(q => q.latest === latest)
      if (at >= 0) queued -= (queue.splice(at, 1)[0] as Queued).bytes
    }
    const bytes = Buffer.byteLength(text)
    // One replaceable event of each name is always kept (it is bounded by the request that made it);
    // the queue of the others is what a client that stopped reading would grow without end.
    if (latest === null && others + bytes > queueBytes) return drop()
    queue.push({ text, bytes, latest })
    queued += bytes
    if (latest === null) others += bytes
  }
  const held = () => (res.destroyed ? 0 : res.writableLength + queued)
  streams.open.add(held)
  write(': connected\n\n')
  // A stream behind has data waiting already: a ping would only add to it.
  const ping = setInterval(() => {
    if (!behind) write(': ping\n\n')
  }, 15_000)
  const tokenId = req.principal?.tokenId
  let tokens: Map<string, Set<() => void>> | undefined
  // Ended from here: what is still queued is not sent (the stall timer still destroys a socket that never drains).
  const end = () => {
    ending = true
    queue.length = 0
    queued = 0
    others = 0
    res.end()
  }
  if (tokenId !== undefined) {
    tokens = byToken.get(req.server) ?? byToken.set(req.server, new Map()).get(req.server)
    const set = tokens?.get(tokenId) ?? new Set()
    set.add(end)
    tokens?.set(tokenId, set)
  }
  const gone = () => {
    if (closed) return
    closed = true
    clearInterval(ping)
    if (stall) clearTimeout(stall)
    queue.length = 0
    queued = 0
    others = 0
    streams.open.delete(held)
    if (tokenId !== undefined) {
      const set = tokens?.get(tokenId)
      set?.delete(end)
      if (set?.size === 0) tokens?.delete(tokenId)
    }
    onClose()
  }
  req.raw.on('close', gone)
  res.on('close', gone)
  // The client may have gone while the route awaited (its token, its consent): 'close' has fired
  // already and would never be seen, leaving the stream's place taken and its ping running for good.
  if (req.raw.socket === null || req.raw.socket.destroyed || res.destroyed) gone()
  return {
    send: (event, data, id) => push(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${data}\n\n`, latestOnly.includes(event) ? event : null),
    close: () => {
      clearInterval(ping)
      end()
    },
    discard: event => discardWhere(q => q.latest === event),
    discardWhere: drop => discardWhere(q => drop(q.text))
  }
  function discardWhere(drop: (q: Queued) => boolean): void {
    for (let i = queue.length - 1; i >= 0; i--) {
      const q = queue[i] as Queued
      if (!drop(q)) continue
      queue.splice(i, 1)
      queued -= q.bytes
      if (q.latest === null) others -= q.bytes
    }
  }
}
