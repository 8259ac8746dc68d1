// The commands the tests spawn, bundled once for a test run. A command started from bin/ loads tsx,
// whose loader resolves and transforms each of the command's hundreds of modules in a thread of its
// own: a server's start costs about 1 s of CPU more that way than from one bundle (docs/development.md),
// and the suite starts hundreds of commands. `scripts/test.ts` builds the bundles before its passes
// and names their folder in INSTORE_TEST_BIN_DIR; test/helpers/run.ts's binEntry spawns them. A file
// run by hand, without the variable, spawns bin/ as before.
// Each module keeps its own import.meta.url (its source file's URL, not the bundle's): the server
// reads its pages and the SDK beside its source, and the gateway's pool starts its workers from
// source, exactly as when run from bin/. Packages stay in node_modules, so the folder must be inside
// the checkout (node_modules/.cache/ by default).
import type { Plugin } from 'esbuild'
import { buildBundles } from './build.ts'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** Where scripts/test.ts writes the bundles, a folder per run: packages resolve from there, and git ignores it. */
export const TEST_BIN_PARENT = join(ROOT, 'node_modules', '.cache', 'instore-test-bin')
/** The variable that names the bundles' folder to the test files. */
export const TEST_BIN_ENV = 'INSTORE_TEST_BIN_DIR'

/** Each command of bin/ and the source module its script imports (`await import('../x.ts')`), from `root`. */
export function binSources(root = ROOT): Record<string, string> {
  const out: Record<string, string> = {}
  for (const f of readdirSync(join(root, 'bin')).sort()) {
    if (!f.endsWith('.mjs')) continue
    const m = /await import\('\.\.\/([^']+\.ts)'\)/.exec(readFileSync(join(root, 'bin', f), 'utf8'))
    if (m === null) throw new Error(`bin/${f} imports no TypeScript module: scripts/test-bins.ts cannot bundle it`)
    out[f.slice(0, -'.mjs'.length)] = m[1]
  }
  return out
}

/** Replaces import.meta.url (and .dirname, .filename) in each module by those of its source file. */
export const sourceUrls: Plugin = {
  name: 'source-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async a => {
      const text = await readFile(a.path, 'utf8')
      const meta = { url: pathToFileURL(a.path).href, dirname: dirname(a.path), filename: a.path }
      // A pattern, not the words as a string: this module is bundled too (test-files.ts), and a
      // string holding them would itself be replaced.
      const contents = text.replace(/\bimport\.meta\.(url|dirname|filename)\b/g, (_, k: keyof typeof meta) => JSON.stringify(meta[k]))
      return { contents, loader: 'ts' }
    })
  }
}

/**
 * Writes NAME.mjs for each command of bin/ into a new folder under `parent` and returns the folder: a
 * folder per run, because a run may start another (test-tiers.test.ts runs scripts/test.ts) while its
 * own test files spawn the bundles, which must not be rewritten under them.
 */
export async function buildTestBins(parent = TEST_BIN_PARENT, root = ROOT): Promise<string> {
  const sources = binSources(root)
  mkdirSync(parent, { recursive: true })
  const out = mkdtempSync(join(parent, 'run-'))
  await buildBundles(out, sources, root, [sourceUrls])
  return out
}

// By hand, to run one test file on the bundles as the whole run does:
// INSTORE_TEST_BIN_DIR=$(node --import tsx scripts/test-bins.ts) node --import tsx --test FILE
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) console.log(await buildTestBins())
