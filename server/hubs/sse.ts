// Server-Sent Events over a hijacked fastify reply: headers, keep-alive comments every 15 s
// (proxies drop idle streams), and cleanup when the client goes away. A stream opened with a
// token is registered under the token's id, so that revoking the token ends it at once.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

export interface EventStream {
  send(event: string, data: string, id?: number | string): void
  /** Ends the stream from the server's side. */
  close(): void
}

const byToken = new WeakMap<FastifyInstance, Map<string, Set<() => void>>>()

/** Ends every open stream authenticated with this token id; returns how many. */
export function closeStreamsOf(app: FastifyInstance, tokenId: string): number {
  const set = byToken.get(app)?.get(tokenId)
  if (!set) return 0
  const n = set.size
  for (const end of [...set]) end()
  return n
}

export function openEventStream(req: FastifyRequest, reply: FastifyReply, onClose: () => void): EventStream {
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' })
  res.write(': connected\n\n')
  const ping = setInterval(() => res.write(': ping\n\n'), 15_000)
  const tokenId = req.principal?.tokenId
  let streams: Map<string, Set<() => void>> | undefined
  const end = () => {
    res.end()
  }
  if (tokenId !== undefined) {
    streams = byToken.get(req.server) ?? byToken.set(req.server, new Map()).get(req.server)
    const set = streams?.get(tokenId) ?? new Set()
    set.add(end)
    streams?.set(tokenId, set)
  }
  let closed = false
  const gone = () => {
    if (closed) return
    closed = true
    clearInterval(ping)
    if (tokenId !== undefined) {
      const set = streams?.get(tokenId)
      set?.delete(end)
      if (set?.size === 0) streams?.delete(tokenId)
    }
    onClose()
  }
  req.raw.on('close', gone)
  res.on('close', gone)
  // The client may have gone while the route awaited (its token, its consent): 'close' has fired
  // already and would never be seen, leaving the stream's place taken and its ping running for good.
  if (req.raw.socket === null || req.raw.socket.destroyed || res.destroyed) gone()
  return {
    send: (event, data, id) => {
      res.write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${data}\n\n`)
    },
    close: () => {
      clearInterval(ping)
      res.end()
    }
  }
}
