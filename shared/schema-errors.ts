// Turns TypeBox validation into a flat list of (path, reason): every problem, not the first one.
import { readFileSync } from 'node:fs'
import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

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
    out.push({ path: prefix + (e.path || ''), reason: e.message })
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

/** Reads a JSON file that must match `schema`; throws one message naming the file and every problem. */
export function loadJsonFile<S extends TSchema>(path: string, schema: S, what: string): Static<S> {
  let json: unknown
  try {
    json = JSON.parse(readText(path))
  } catch (err) {
    throw new Error(`${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const problems = schemaProblems(schema, json)
  if (problems.length > 0) throw new Error(`invalid ${what} ${path}: ${problems.length} problem(s)\n${formatProblems(problems)}`)
  return json as Static<S>
}
