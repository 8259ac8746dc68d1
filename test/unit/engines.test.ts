// The Node.js the README promises (package.json `engines`) runs every locked production
// dependency: a deploy with `npm ci --omit=dev --engine-strict` must not be refused.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { ROOT } from '../helpers/run.ts'

// npm's own range logic (a dependency of the toolchain, untyped here).
const semver = createRequire(import.meta.url)('semver') as { satisfies(v: string, range: string): boolean; minVersion(range: string): { version: string } | null }

test("every locked production dependency accepts the oldest Node.js of package.json's engines", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
  const oldest = semver.minVersion(pkg.engines.node)?.version as string
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; version?: string; engines?: { node?: string } }> }
  const refused = Object.entries(lock.packages)
    .filter(([path, p]) => path !== '' && p.dev !== true && typeof p.engines?.node === 'string' && !semver.satisfies(oldest, p.engines.node))
    .map(([path, p]) => `${path}@${p.version} needs node ${p.engines?.node}`)
  assert.deepEqual(refused, [], `Node ${oldest}`)
})
