// Turns TypeBox validation into a flat list of (path, reason): every problem, not the first one.
import type { TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

export interface Problem { path: string, reason: string }

export function schemaProblems (schema: TSchema, value: unknown, prefix = ''): Problem[] {
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

export function formatProblems (problems: Problem[]): string {
  return problems.map(p => `  ${p.path || '/'}: ${p.reason}`).join('\n')
}
