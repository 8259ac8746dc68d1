// The test files themselves, bundled once for a test run. A test file run through `--import tsx`
// starts tsx's loader and resolves and transforms, through it, every module the file imports (the
// helpers pull in the gateway and the server): about 1 s of CPU per file before its first test, and
// the suite runs some 360 files (docs/development.md). scripts/test.ts bundles every file it is
// about to run with esbuild, in one build whose shared modules go to shared chunks, and runs the
// bundles with plain node through the bundled runner (scripts/test-run.ts), which reports each
// file under its source's name. Each module keeps its source file's import.meta.url (as the
// commands' bundles do, scripts/test-bins.ts), so a test finds its fixtures and the code it spawns
// beside the source. A file run by hand (`node --import tsx --test FILE`) still runs from source.
import { build } from 'esbuild'
import { sourceUrls } from './test-bins.ts'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { basename, isAbsolute, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** Where the bundles go, a folder per run: packages resolve from there, and git ignores it. */
export const TEST_FILES_PARENT = join(ROOT, 'node_modules', '.cache', 'instore-test-files')
/** The variable that names the bundles' map (bundle -> source, JSON) to the runner, for its report. */
export const TEST_FILES_MAP_ENV = 'INSTORE_TEST_FILES_MAP'

export interface TestBundles {
  /** The run's folder (remove it at the end of the run). */
  dir: string
  /** The runner's bundle: start it with plain node and --enable-source-maps, which its test files inherit (no tsx in them). */
  runner: string
  /** The JSON file naming each bundle's source, for the runner's report. */
  map: string
  /** Each test file's bundle, by the file's absolute path. */
  bundles: Map<string, string>
}

/**
 * Bundles scripts/test-run.ts and the test files `files` (relative to `root`, or absolute: a run
 * may be given files outside the checkout) into a new folder under `parent`.
 */
export async function buildTestFiles(files: string[], parent = TEST_FILES_PARENT, root = ROOT): Promise<TestBundles> {
  mkdirSync(parent, { recursive: true })
  const dir = mkdtempSync(join(parent, 'run-'))
  const entries: Record<string, string> = { 'scripts/test-run': join(root, 'scripts/test-run.ts') }
  const bundles = new Map<string, string>()
  files.forEach((f, i) => {
    const src = isAbsolute(f) ? f : resolve(root, f)
    const rel = relative(root, src)
    // A file outside the checkout gets a name of its own: its path cannot be mirrored inside the folder.
    const name = (rel.startsWith('..') || isAbsolute(rel) ? `outside/${i}/${basename(src)}` : rel).replace(/\.ts$/, '')
    entries[name] = src
    bundles.set(src, join(dir, `${name}.mjs`))
  })
  await build({
    entryPoints: entries,
    outdir: dir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    // Linked maps, read by the runner's --enable-source-maps (its files inherit it): a failure's stack
    // names the source's lines (about 0.03 s of CPU per file).
    sourcemap: 'linked',
    logLevel: 'warning',
    plugins: [sourceUrls]
  })
  const map = join(dir, 'map.json')
  writeFileSync(map, JSON.stringify(Object.fromEntries([...bundles].map(([src, out]) => [out, src]))))
  return { dir, runner: join(dir, 'scripts/test-run.mjs'), map, bundles }
}
