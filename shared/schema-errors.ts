// Turns TypeBox validation into a flat list of (path, reason): every problem, not the first one.
import { readFileSync } from 'node:fs'
import type { Static, TSchema } from '@sinclair/typebox'
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value'

export interface Problem {
  path: string
  reason: string
}

export function schemaProblems(schema: TSchema, value: unknown, prefix = ''): Problem[] {
  const out: Problem[] = []
  const seen = new Set<string>()
  for (const e of Value.Errors(schema, value)) {
    const key = e.path + '|' + e.message
    if (seen.has(key)) continue
    seen.add(key)
    out.push({ path: prefix + (e.path || ''), reason: reasonOf(e) })
  }
  // Unions report the same leaf several times; keep the most specific paths only.
  return out.filter(p => !out.some(q => q !== p && q.path.startsWith(p.path + '/')))
}

export function formatProblems(problems: Problem[]): string {
  return problems.map(p => `  ${p.path || '/'}: ${p.reason}`).join('\n')
}

/** A text file's contents, without the byte-order mark some Windows editors write (JSON.parse refuses it). */
export function readText(path: string): string {
  return readFileSync(path, 'utf8').replace(/^\uFEFF/, '')
}

/**
 * Where a JSON text stops parsing, without its content: V8's message quotes the text around the
 * fault, which in an auth or config file may be a secret pasted by mistake, and logs keep it.
 */
export function jsonSyntaxWhere(text: string, err: SyntaxError): string {
  const at = /at position (\d+)/.exec(err.message)
  if (at === null) return /end of JSON input/.test(err.message) ? 'not valid JSON (it ends too soon)' : 'not valid JSON (a value that is not JSON: a string without quotes?)'
  const before = text.slice(0, Number(at[1]))
  const line = before.split('\n').length
  return `not valid JSON at line ${line}, column ${before.length - before.lastIndexOf('\n')}`
}

/** Reads a JSON file that must match `schema`; throws one message naming the file and every problem. */
export function loadJsonFile<S extends TSchema>(path: string, schema: S, what: string): Static<S> {
  let json: unknown
  try {
    json = JSON.parse(readText(path))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new Error(`${what} ${path}: ${code ?? (err instanceof SyntaxError ? jsonSyntaxWhere(readText(path), err) : (err as Error).message)}`)
  }
  const problems = schemaProblems(schema, json)
  if (problems.length > 0) throw new Error(`invalid ${what} ${path}: ${problems.length} problem(s)\n${formatProblems(problems)}`)
  return json as Static<S>
}

/** Edit distance, case-insensitive: suggests the key a misspelled one meant. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j)
  for (let i = 1; i <= x.length; i++) {
    const row = [i]
    for (let j = 1; j <= y.length; j++) row.push(Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1)))
    prev = row
  }
  return prev[y.length]
}

/** The known key nearest a misspelled one, when it is near enough to be what was meant. */
export function nearestKey(key: string, known: string[]): string | null {
  let best: string | null = null
  let bestD = Infinity
  for (const k of known) {
    // A key cut short (bearing for bearingDeg) is as near as a typo.
    const d = k.toLowerCase().startsWith(key.toLowerCase()) ? 1 : distance(key, k)
    if (d < bestD) [best, bestD] = [k, d]
  }
  return best !== null && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : null
}

/**
 * TypeBox's messages in words a site or campaign author acts on: an unknown key named (with the
 * key it probably meant), a choice of constants listed once, a pattern said as the schema's
 * `patternText` rather than as a regular expression.
 */
function reasonOf(e: ValueError): string {
  const schema = e.schema as { properties?: Record<string, unknown>; anyOf?: Array<{ const?: unknown }>; patternText?: string }
  if (e.type === ValueErrorType.ObjectAdditionalProperties) {
    const key = e.path.split('/').pop() ?? ''
    const near = nearestKey(key, Object.keys(schema.properties ?? {}))
    return `unknown key '${key}'${near !== null ? ` (did you mean '${near}'?)` : ''}`
  }
  if (e.type === ValueErrorType.Union && schema.anyOf?.every(s => s.const !== undefined)) {
    return `must be one of ${schema.anyOf.map(s => JSON.stringify(s.const)).join(', ')}, got ${JSON.stringify(e.value)}`
  }
  if (e.type === ValueErrorType.StringPattern && schema.patternText !== undefined) return `${schema.patternText}, got ${JSON.stringify(e.value)}`
  return e.message
}
