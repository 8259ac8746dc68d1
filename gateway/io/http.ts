// The gateway's HTTP port: /healthz (what is wrong, if anything) and /metrics (Prometheus text).
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { createHash, timingSafeEqual } from 'node:crypto'

export interface Health {
  status: 'ok' | 'degraded'
  problems: string[]
  [k: string]: unknown
}

export interface Webhook {
  path: string
  /** GET: the text to answer (Meraki's validator). */
  validator: string
  /** Largest body accepted, bytes (default 5 MiB); larger is answered 413. */
  maxBytes?: number
  /**
   * The shared secret, when the format puts it at the top of the body (Meraki v3): checked on the
   * first bytes, before the body is read whole or parsed, so a stranger costs no parse.
   */
  secret?: string
  /** Deepest JSON nesting accepted (default 32): a deeper body is answered 400 unparsed. */
  maxDepth?: number
  /** Told of each post refused here, before `post` (413, 403, 400). */
  refused?: (status: number) => void
  /** POST: the parsed JSON body; answers status and a short text. */
  post(body: unknown): { status: number; text: string }
}

/** Compares two secrets in constant time (equal-length digests, whatever their lengths). */
export function sameSecret(a: string, b: string): boolean {
  const d = (s: string): Buffer => createHash('sha256').update(s).digest()
  return timingSafeEqual(d(a), d(b))
}

/** How far the body looks for the top-level secret. */
const SECRET_HEAD = 4096

/** The first `"secret":"..."` in a body's head; undefined when there is none. */
function headSecret(head: string): string | undefined {
  const m = /"secret"\s*:\s*("(?:[^"\\]|\\.)*")/.exec(head)
  if (m === null) return undefined
  try {
    return JSON.parse(m[1]) as string
  } catch {
    return undefined
  }
}

/** Deepest nesting of a JSON text, in one pass over its bytes (strings skipped). */
export function jsonDepth(b: Buffer): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < b.length; i++) {
    const c = b[i]
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
      continue
    }
    if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return max
}

/** Server limits: a slow or idle client cannot hold a connection, nor many of them the process. */
export const HTTP_LIMITS = { requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, maxConnections: 64 }

export async function startHttp(port: number, host: string, routes: { health: () => Health; metrics: () => string; webhook?: Webhook }): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const hook = routes.webhook
    if (hook && path === hook.path) {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.end(hook.validator)
        return
      }
      if (req.method === 'POST') {
        const limit = hook.maxBytes ?? 5 * 2 ** 20
        const refuse = (status: number, text: string, close: boolean): void => {
          hook.refused?.(status)
          res.writeHead(status, { connection: 'close' })
          res.end(text)
          if (close) req.destroy()
          else req.resume()
        }
        // Refused on its declared length before a byte is read, and on its real length otherwise.
        if (Number(req.headers['content-length'] ?? 0) > limit) {
          refuse(413, 'too large', false)
          return
        }
        const chunks: Buffer[] = []
        let size = 0
        let checked = hook.secret === undefined
        const secretOk = (): boolean => {
          checked = true
          const got = headSecret(Buffer.concat(chunks).subarray(0, SECRET_HEAD).toString())
          return got !== undefined && sameSecret(got, hook.secret ?? '')
        }
        req.on('data', (c: Buffer) => {
          if (res.writableEnded) return
          size += c.length
          if (size > limit) {
            refuse(413, 'too large', true)
            return
          }
          chunks.push(c)
          if (!checked && size >= SECRET_HEAD && !secretOk()) refuse(403, 'wrong shared secret', true)
        })
        req.on('end', () => {
          if (res.writableEnded) return
          if (!checked && !secretOk()) {
            refuse(403, 'wrong shared secret', false)
            return
          }
          const raw = Buffer.concat(chunks)
          if (jsonDepth(raw) > (hook.maxDepth ?? 32)) {
            refuse(400, 'nested too deep', false)
            return
          }
          let body: unknown
          try {
            body = JSON.parse(raw.toString())
          } catch {
            refuse(400, 'not JSON', false)
            return
          }
          try {
            const r = hook.post(body)
            res.writeHead(r.status, { 'content-type': 'text/plain' })
            res.end(r.text)
          } catch {
            res.writeHead(500)
            res.end('internal error')
          }
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
  server.requestTimeout = HTTP_LIMITS.requestTimeoutMs
  server.headersTimeout = HTTP_LIMITS.headersTimeoutMs
  server.maxConnections = HTTP_LIMITS.maxConnections
  server.listen(port, host)
  await once(server, 'listening')
  const a = server.address()
  return { server, port: typeof a === 'object' && a ? a.port : port }
}
