// `npm run build`: the gateway as plain JavaScript for a store box, one file for the process and
// one for a solver-pool worker, in dist/. Run from the TypeScript source, node loads tsx's loader
// in a thread of its own and keeps every transformed module beside its source map, which costs a
// small box memory; the bundle needs neither. Packages stay in node_modules (native ones cannot be
// bundled), so the bundle runs from a folder whose node_modules holds them: dist/ in the checkout.
// Deployment runs it (deploy/instore-gateway.service); the throughput benchmark measures it.
import { build, type Plugin } from 'esbuild'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** The bundles: the gateway's command, and the worker it starts from beside itself (worker-group.ts). */
export const GATEWAY_BUNDLES: Record<string, string> = {
  'instore-gateway': 'gateway/main.ts',
  'pool-worker': 'gateway/estimation/pool-worker.ts'
}

/** Writes each entry's bundle (its source relative to `root`) as OUT/NAME.mjs; `plugins` for the test run's bundles (test-bins.ts). */
export async function buildBundles(out: string, entries: Record<string, string> = GATEWAY_BUNDLES, root = ROOT, plugins: Plugin[] = []): Promise<void> {
  await build({
    entryPoints: Object.fromEntries(Object.entries(entries).map(([name, src]) => [name, join(root, src)])),
    outdir: out,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: false,
    logLevel: 'warning',
    plugins
  })
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2] ?? join(ROOT, 'dist')
  await buildBundles(out)
  console.log(
    `built ${Object.keys(GATEWAY_BUNDLES)
      .map(n => join(out, `${n}.mjs`))
      .join(', ')}`
  )
}
