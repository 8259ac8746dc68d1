// The central server's answers to a batch of events (contract §6, server/routes/gateway.ts): what
// the gateway may conclude from them. A 200 says how many of the posted events central stored
// (`accepted`) or already held (`duplicates`); only when that is every one of them is the batch
// delivered. A 4xx in the server's own format names the events it refused.
import { Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'

/** The server's reply to a delivered batch (contract §6); any other 200 body (a captive portal, a proxy's page) is no delivery. */
export const EventsReply = TypeCompiler.Compile(Type.Object({ accepted: Type.Integer({ minimum: 0 }), duplicates: Type.Integer({ minimum: 0 }) }))
/**
 * The server's own error format. Only a 4xx in it speaks about the events; an HTML page from a proxy
 * or a misconfigured endpoint says nothing about them and must not dead-letter the outbox.
 */
export const ServerError = TypeCompiler.Compile(Type.Object({ error: Type.String({ pattern: '^INSTORE_' }), message: Type.String() }))

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** One event the server refused, by its place in the posted batch. */
export interface Refusal {
  index: number
  error: string
  message: string
}

/** The server's per-event refusals in a 4xx body, or null when it lists none (then the batch is split to find them). */
export function refusals(text: string, n: number): Refusal[] | null {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return null
  }
  const list = (body as { refused?: unknown } | null)?.refused
  if (!Array.isArray(list) || list.length === 0) return null
  const out: Refusal[] = []
  for (const r of list as Array<{ index?: unknown; error?: unknown; message?: unknown }>) {
    if (!Number.isInteger(r?.index) || (r.index as number) < 0 || (r.index as number) >= n) return null
    out.push({ index: r.index as number, error: String(r.error ?? ''), message: String(r.message ?? '').slice(0, 300) })
  }
  return out
}

/** Events a 200 body says central holds now (accepted + duplicates), or null when the body is not the server's reply. */
export function eventsTaken(text: string): number | null {
  const r = parseJson(text)
  return EventsReply.Check(r) ? r.accepted + r.duplicates : null
}

/** 4xx answers that say nothing about the events (credentials, the store, timing): retried with backoff, never dead letters. */
export const RETRY_4XX = new Set([401, 403, 404, 408, 425, 429])

/** A 3xx: the central server (or something in front of it) points elsewhere. */
export function isRedirect(status: number): boolean {
  return status >= 300 && status < 400 && status !== 304
}

export function redirectMessage(res: Response): string {
  return `HTTP ${res.status} redirect to ${(res.headers.get('location') ?? '?').slice(0, 200)}: not followed (check --central)`
}
