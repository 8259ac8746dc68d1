// Server-Sent Events over a hijacked fastify reply: headers, keep-alive comments every 15 s
// (proxies drop idle streams), and cleanup when the client goes away.
import type { FastifyReply, FastifyRequest } from 'fastify'

export interface EventStream {
  send (event: string, data: string, id?: number | string): void
  /** Ends the stream from the server's side. */
  close (): void
}

export function openEventStream (req: FastifyRequest, reply: FastifyReply, onClose: () => void): EventStream {
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' })
  res.write(': connected\n\n')
  const ping = setInterval(() => res.write(': ping\n\n'), 15_000)
  req.raw.on('close', () => { clearInterval(ping); onClose() })
  return {
    send: (event, data, id) => { res.write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${data}\n\n`) },
    close: () => { clearInterval(ping); res.end() }
  }
}
