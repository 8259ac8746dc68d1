// The folders' import rules (each folder's README says the same in words): each folder imports
// only what its rule allows, so estimation knows nothing of visits, the database nothing of routes,
// and shared code nothing of either part. Type-only imports are allowed across a rule where a
// stage names another's data without running its code.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

// Folder -> the folders its code may import (itself and shared always allowed).
const RULES: Record<string, string[]> = {
  shared: [],
  'gateway/ingest': ['gateway/io'],
  'gateway/estimation': [],
  'gateway/presence': ['gateway/ingest', 'gateway/estimation', 'gateway/campaigns', 'gateway/io'],
  'gateway/campaigns': ['gateway/io'],
  'gateway/io': ['gateway/ingest'],
  gateway: ['gateway/ingest', 'gateway/estimation', 'gateway/presence', 'gateway/campaigns', 'gateway/io'],
  tools: ['gateway/ingest', 'gateway/estimation', 'gateway/io'],
  'server/db': [],
  'server/hubs': ['server/db'],
  'server/routes': ['server', 'server/db', 'server/hubs'],
  server: ['server/routes', 'server/db', 'server/hubs'],
  sdk: [],
  simulators: ['gateway/ingest'],
}

function sources (dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = join(dir, name)
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...sources(rel))
    else if (name.endsWith('.ts')) out.push(rel)
  }
  return out
}

const IMPORT = /^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm

test('every source folder imports only what its rule allows', () => {
  const broken: string[] = []
  for (const top of ['shared', 'gateway', 'tools', 'server', 'sdk', 'simulators']) {
    for (const file of sources(top)) {
      const folder = dirname(file)
      const allowed = RULES[folder]
      if (allowed === undefined) { broken.push(`${folder}: a folder without a rule in this test`); continue }
      for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(IMPORT)) {
        if (m[2] !== undefined) continue
        const target = dirname(normalize(join(folder, m[3] as string)))
        if (target === folder || target === 'shared' || allowed.includes(target)) continue
        broken.push(`${file} imports ${relative('.', join(target))}`)
      }
    }
  }
  assert.deepEqual(broken, [])
})

test('every source folder opens with a README saying what it holds and may import', () => {
  const missing = Object.keys(RULES).filter(f => {
    try { return readFileSync(join(ROOT, f, 'README.md'), 'utf8').length < 80 } catch { return true }
  })
  assert.deepEqual(missing, [])
})
