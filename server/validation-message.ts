// A request refused by its schema, in one line a caller acts on. Ajv reports a choice of constants
// (`when.event`, a segment, a weekday) as one "must be equal to constant" per choice plus "must
// match a schema in anyOf": said here once, as the values allowed and the value given.
import type { FastifySchemaValidationError } from 'fastify'

export function validationMessage(context: string, errors: FastifySchemaValidationError[], body: unknown): string {
  const choices = new Map<string, unknown[]>()
  for (const e of errors) {
    if (e.keyword !== 'const') continue
    const list = choices.get(e.instancePath) ?? []
    list.push((e.params as { allowedValue?: unknown }).allowedValue)
    choices.set(e.instancePath, list)
  }
  const out: string[] = []
  const said = new Set<string>()
  for (const e of errors) {
    const at = `${context}${e.instancePath}`
    const allowed = choices.get(e.instancePath)
    if (allowed !== undefined && allowed.length > 1 && (e.keyword === 'const' || e.keyword === 'anyOf')) {
      if (said.has(e.instancePath)) continue
      said.add(e.instancePath)
      out.push(`${at} must be one of ${allowed.map(v => JSON.stringify(v)).join(', ')}, got ${echo(JSON.stringify(valueAt(body, e.instancePath)) ?? 'nothing')}`)
    } else if (e.keyword === 'additionalProperties') {
      out.push(`${at} has an unknown key '${echo(String((e.params as { additionalProperty?: unknown }).additionalProperty))}'`)
    } else out.push(`${at} ${e.message ?? 'is invalid'}`)
  }
  return out.join(', ')
}

/** Most characters of a caller's own value said back: enough to recognise it, not a megabyte echoed into logs. */
export const ECHO_MAX = 200

/** `s`, cut to ECHO_MAX characters with an ellipsis when longer. */
function echo(s: string): string {
  return s.length > ECHO_MAX ? `${s.slice(0, ECHO_MAX)}…` : s
}

/** The value at a JSON pointer (`/when/event`), for saying what was given. */
function valueAt(doc: unknown, pointer: string): unknown {
  let v = doc
  for (const part of pointer.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~')
    v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined
  }
  return v
}
