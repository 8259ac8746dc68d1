// The gateway's HTTP port: /healthz (what is wrong, if anything) and /metrics (Prometheus text).
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'

export interface Health { status: 'ok' | 'degraded', problems: string[], [k: string]: unknown }

export async function startHttp (port: number, host: string, routes: { health: () => Health, metrics: () => string }): Promise<{ server: Server, port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
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
