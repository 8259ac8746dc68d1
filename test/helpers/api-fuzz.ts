// A schema-driven fuzzer over the server's own OpenAPI document: for every operation, requests
// built from its parameter and body schemas (valid, mutated and malformed), sent with each kind
// of token. Every answer must be a declared status (never a 5xx) and, where that status declares
// a JSON schema, must satisfy it.
import { Ajv, type ValidateFunction } from 'ajv'
import { Rng } from '../../shared/rng.ts'

type Schema = Record<string, unknown>
interface Op {
  method: string
  path: string
  parameters?: Array<{ name: string; in: string; schema?: Schema; required?: boolean }>
  requestBody?: { content?: Record<string, { schema?: Schema }> }
  responses: Record<string, { content?: Record<string, { schema?: Schema }> }>
  security?: unknown[]
}
export interface Finding {
  op: string
  auth: string
  status: number
  problem: string
  request: string
}

export const HOSTILE: unknown[] = [
  null,
  true,
  -1e308,
  1e308,
  '',
  'x'.repeat(300),
  -200,
  12,
  '-60',
  [],
  {},
  1764000000,
  '\u0000',
  '../../etc',
  '#',
  'app:+/#',
  '<img src=x onerror=alert(1)>',
  '%00',
  '{"a":1}'
]

/** A value for `schema`, valid where the fuzzer can tell (patterns are not inverted). */
export function generate(r: Rng, schema: Schema | undefined, pool: string[], depth = 0): unknown {
  if (!schema || depth > 6) return r.pick(HOSTILE)
  const any = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined
  if (any) return generate(r, r.pick(any), pool, depth + 1)
  if ('const' in schema) return schema.const
  if (Array.isArray(schema.enum)) return r.pick(schema.enum)
  switch (schema.type) {
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, Schema>
      const req = new Set((schema.required ?? []) as string[])
      return Object.fromEntries(
        Object.entries(props)
          .filter(([k]) => req.has(k) || r.chance(0.5))
          .map(([k, s]) => [k, generate(r, s, pool, depth + 1)])
      )
    }
    case 'array': {
      if (Array.isArray(schema.items)) return (schema.items as Schema[]).map(s => generate(r, s, pool, depth + 1))
      const n = r.int(Number(schema.minItems ?? 0), Math.min(Number(schema.maxItems ?? 3), Number(schema.minItems ?? 0) + 3) + 1)
      return Array.from({ length: n }, () => generate(r, schema.items as Schema, pool, depth + 1))
    }
    case 'string':
      return r.chance(0.7) ? r.pick(pool) : 'x'.repeat(Math.max(1, Number(schema.minLength ?? 1)))
    case 'integer':
      return r.int(Number(schema.minimum ?? 0), Number(schema.maximum ?? 1000) + 1)
    case 'number':
      return r.uniform(Number(schema.minimum ?? 0), Number(schema.maximum ?? 1000))
    case 'boolean':
      return r.chance(0.5)
    case 'null':
      return null
    default:
      return r.pick(HOSTILE)
  }
}

/** A copy of `v` with some fields dropped, renamed or replaced by hostile values. */
export function mutate(r: Rng, v: unknown, depth = 0): unknown {
  if (depth > 3 || r.chance(0.3)) return r.pick(HOSTILE)
  if (Array.isArray(v)) return r.chance(0.2) ? Array.from({ length: r.int(0, 1500) }, () => v[0]) : v.map(x => mutate(r, x, depth + 1))
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) if (!r.chance(0.15)) o[r.chance(0.05) ? k + '_' : k] = r.chance(0.5) ? mutate(r, x, depth + 1) : x
    return o
  }
  return v
}

export function operations(doc: { paths: Record<string, Record<string, Omit<Op, 'method' | 'path'>>> }): Op[] {
  return Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ ...op, method: method.toUpperCase(), path })))
}

export async function fuzzOperation(
  base: string,
  op: Op,
  o: { rng: Rng; auth: Record<string, string | null>; pool: string[]; tries: number; ajv: Ajv }
): Promise<{ findings: Finding[]; statuses: Map<number, number> }> {
  const r = o.rng
  const findings: Finding[] = []
  const statuses = new Map<number, number>()
  const validators = new Map<string, ValidateFunction>()
  const validator = (status: string, s: Schema) => validators.get(status) ?? (validators.set(status, o.ajv.compile(s)).get(status) as ValidateFunction)
  const bodySchema = op.requestBody?.content?.['application/json']?.schema
  for (const [who, token] of Object.entries(o.auth)) {
    for (let i = 0; i < o.tries; i++) {
      let path = op.path
      const query: string[] = []
      for (const p of op.parameters ?? []) {
        const v = r.chance(0.8) ? generate(r, p.schema, o.pool) : r.pick(HOSTILE)
        if (p.in === 'path') path = path.replace(`{${p.name}}`, encodeURIComponent(String(v)))
        else if (p.in === 'query' && (p.required || r.chance(0.6))) query.push(`${encodeURIComponent(p.name)}=${encodeURIComponent(String(v))}`)
      }
      if (r.chance(0.1)) query.push(`${r.pick(['since', 'x', 'role', 'lastEventId'])}=${encodeURIComponent(String(r.pick(HOSTILE)))}`)
      const kind = op.method === 'GET' || (bodySchema === undefined && !r.chance(0.1)) ? 'none' : r.pick(['valid', 'valid', 'mutated', 'mutated', 'garbage', 'deep', 'text'])
      const valid = generate(r, bodySchema, o.pool)
      const body =
        kind === 'none'
          ? undefined
          : kind === 'valid'
            ? JSON.stringify(valid)
            : kind === 'mutated'
              ? JSON.stringify(mutate(r, valid))
              : kind === 'garbage'
                ? r.pick(['{', '[1,', 'nul', '"x', '{"a":}', '\u0000', ''])
                : kind === 'deep'
                  ? '['.repeat(3000) + ']'.repeat(3000)
                  : 'plain text'
      const headers: Record<string, string> = {
        ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': kind === 'text' ? 'text/plain' : 'application/json' } : {})
      }
      const url = `${base}${path}${query.length ? '?' + query.join('&') : ''}`
      const abort = new AbortController()
      const res = await fetch(url, { method: op.method, headers, ...(body !== undefined ? { body } : {}), signal: abort.signal })
      const type = res.headers.get('content-type') ?? ''
      const text = type.startsWith('text/event-stream') ? (abort.abort(), '') : await res.text()
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      const request = `${op.method} ${url.slice(base.length, base.length + 160)} ${kind} body`
      const declared = op.responses[String(res.status)]
      const find = (problem: string) => findings.push({ op: `${op.method} ${op.path}`, auth: who, status: res.status, problem, request })
      if (res.status >= 500) find(`5xx: ${text.slice(0, 200)}`)
      if (!declared) {
        find(`undeclared status: ${text.slice(0, 200)}`)
        continue
      }
      const s = declared.content?.['application/json']?.schema
      if (type.startsWith('application/json') && s) {
        const v = validator(String(res.status), s)
        if (!v(JSON.parse(text))) find(`body breaks its schema: ${o.ajv.errorsText(v.errors)}: ${text.slice(0, 200)}`)
      } else if (declared.content && !Object.keys(declared.content).some(t => type.startsWith(t)) && text !== '') find(`content-type ${type} not declared`)
    }
  }
  return { findings, statuses }
}
