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
  simulators: ['gateway/ingest']
}

function sources(dir: string): string[] {
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
      if (allowed === undefined) {
        broken.push(`${folder}: a folder without a rule in this test`)
        continue
      }
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
    try {
      return readFileSync(join(ROOT, f, 'README.md'), 'utf8').length < 80
    } catch {
      return true
    }
  })
  assert.deepEqual(missing, [])
})

// Files stay under ~400 lines (STYLE.md habit 10): past that a file holds more than one concern,
// and is split by concern rather than grown. A file that cannot sensibly be split is listed here
// with the reason; none is today.
const MAX_LINES = 400
const LONG_FILES_ALLOWED: Record<string, string> = {}

test('no source or test file is longer than 400 lines', () => {
  const long: string[] = []
  for (const top of ['gateway', 'server', 'shared', 'sdk', 'simulators', 'tools', 'bench', 'scripts', 'test']) {
    for (const file of code(top)) {
      const lines = readFileSync(join(ROOT, file), 'utf8').split('\n').length - 1
      if (lines > MAX_LINES && LONG_FILES_ALLOWED[file] === undefined) long.push(`${file}: ${lines} lines`)
    }
  }
  assert.deepEqual(long, [])
})

/** Every code file under a folder (TypeScript and JavaScript), without dependencies. */
function code(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = join(dir, name)
    if (name === 'node_modules') continue
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...code(rel))
    else if (/\.(ts|mts|js|mjs)$/.test(name)) out.push(rel)
  }
  return out
}

// Comments say why and name the benchmark that measures a thing (`npm run bench -- visits`); the
// figures live in docs/benchmarks.md and bench/results/, where they carry a date and a commit. A
// figure in a comment goes stale the day something changes: "improves 1.78 -> 1.63 m", "3.49
// against 3.59 m", "~20 ms each" are what this looks for.
const MEASURED = [/\d(\.\d+)?\s*(->|→)\s*\d/, /\d(\.\d+)?\s*(m|ms|µs|s|%)\s+(against|vs\.?|instead of)\s+\d/, /\d(\.\d+)?\s*(ms|µs)\s+(each|a test|a step|per test)\b/]

test('no comment carries a measured figure', () => {
  const found: string[] = []
  for (const top of ['gateway', 'server', 'shared', 'sdk', 'simulators', 'tools', 'bench', 'scripts', 'test']) {
    for (const file of code(top).filter(f => f !== 'test/unit/layout.test.ts')) {
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const comment = /^\s*(\/\/|\/?\*)/.test(line) ? line : (line.match(/\s\/\/\s.*$/)?.[0] ?? '')
          if (MEASURED.some(re => re.test(comment))) found.push(`${file}:${i + 1}: ${comment.trim().slice(0, 120)}`)
        })
    }
  }
  assert.deepEqual(found, [])
})

// The formatter is enforced: `lint` checks formatting as well as the lint rules (docs/development.md),
// so a change out of the configured style fails CI.
test('npm run lint enforces the configured format; npm run format writes it and format:check reports it', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  assert.match(pkg.scripts.lint, /^biome (check|ci) /)
  assert.match(pkg.scripts['format:check'] ?? '', /^biome (format|check|ci) /)
  assert.match(pkg.scripts.format, /^biome (format|check) --write/)
  const biome = JSON.parse(readFileSync(join(ROOT, 'biome.json'), 'utf8')) as {
    formatter: { enabled: boolean; indentWidth: number }
    javascript: { formatter: Record<string, unknown> }
  }
  assert.equal(biome.formatter.enabled, true)
  assert.equal(biome.formatter.indentWidth, 2)
  assert.deepEqual([biome.javascript.formatter.quoteStyle, biome.javascript.formatter.semicolons], ['single', 'asNeeded'])
})
