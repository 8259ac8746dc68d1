// The gateway's HTTP port: /healthz (what is wrong, if anything) and /metrics (Prometheus text).
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'

export interface Health { status: 'ok' | 'degraded', problems: string[], [k: string]: unknown }

export interface Webhook {
  path: string
  /** GET: the text to answer (Meraki's validator). */
  validator: string
  /** Largest body accepted, bytes (default 5 MiB); larger is answered 413. */
  maxBytes?: number
  /** POST: the parsed JSON body; answers status and a short text. */
  post (body: unknown): { status: number, text: string }
}

export async function startHttp (port: number, host: string, routes: { health: () => Health, metrics: () => string, webhook?: Webhook }): Promise<{ server: Server, port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const hook = routes.webhook
    if (hook && path === hook.path) {
      if (req.method === 'GET') { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(hook.validator); return }
      if (req.method === 'POST') {
        const limit = hook.maxBytes ?? 5 * 2 ** 20
        // Refused on its declared length before a byte is read, and on its real length otherwise.
        if (Number(req.headers['content-length'] ?? 0) > limit) { res.writeHead(413, { connection: 'close' }); res.end('too large'); req.resume(); return }
        const chunks: Buffer[] = []; let size = 0
        req.on('data', (c: Buffer) => {
          size += c.length
          if (size > limit) { res.writeHead(413); res.end('too large'); req.destroy(); return }
          chunks.push(c)
        })
        req.on('end', () => {
          if (res.writableEnded) return
          let body: unknown
          try { body = JSON.parse(Buffer.concat(chunks).toString()) } catch { res.writeHead(400); res.end('not JSON'); return }
          try {
            const r = hook.post(body)
            res.writeHead(r.status, { 'content-type': 'text/plain' }); res.end(r.text)
          } catch { res.writeHead(500); res.end('internal error') }
        })
        return
      }
    }
    try {
      if (req.method === 'GET' && path === '/healthz') {
        const h = routes.health()
        res.writeHead(h.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' })
        res.end(JSON.stringify(h))
      } else if (req.method === 'GET' && path === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
        res.end(routes.metrics())
      } else {
        res.writeHead(404, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: 'not found', routes: ['/healthz', '/metrics'] }))
      }
    } catch {
      res.writeHead(500, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: 'internal error' }))
    }
  })
  server.listen(port, host)
  await once(server, 'listening')
  const a = server.address()
  return { server, port: typeof a === 'object' && a ? a.port : port }
}
