// One pass of the test runner over the files given, in the order given: `node --test` sorts its
// file arguments, which would undo scripts/test.ts's slowest-first order. Same settings as the
// command line it replaces: two files at a time, each in its own process (this one's node options
// passed on: `--import tsx` when run from source), and a file exits once its tests have ended,
// whatever it left open. A file still running after its timeout is stopped and reported `not ok`
// with its name; the others go on.
// Usage: node --import tsx scripts/test-run.ts FILE ... (exit code 1 when a test failed).
// scripts/test.ts runs this script's bundle with plain node over the test files' bundles
// (scripts/test-files.ts) and names their map in INSTORE_TEST_FILES_MAP: each file is then
// reported under its source's name.
// INSTORE_TEST_FILE_TIMEOUT_MS: the timeout of one file, ms (default 8 minutes: far above the slowest
// file on a loaded machine, far below the pass limit of scripts/test.ts).
import { run } from 'node:test'
import { tap } from 'node:test/reporters'
import { readFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import { resolve } from 'node:path'

const FILE_TIMEOUT_MS = 8 * 60_000
const asked = Number(process.env.INSTORE_TEST_FILE_TIMEOUT_MS)
const timeout = Number.isInteger(asked) && asked > 0 ? asked : FILE_TIMEOUT_MS
const files = process.argv.slice(2).map(f => resolve(f))
const mapFile = process.env.INSTORE_TEST_FILES_MAP
const sources = new Map<string, string>(mapFile ? Object.entries(JSON.parse(readFileSync(mapFile, 'utf8')) as Record<string, string>) : [])
let failed = false
const stream = run({ files, concurrency: 2, forceExit: true, timeout } as Parameters<typeof run>[0])
// A todo test that fails does not fail the run, as on the command line.
stream.on('test:fail', e => {
  if (!e.todo) failed = true
})
stream.on('end', () => {
  process.exitCode = failed ? 1 : 0
})

type Event = { type: string; data?: { name?: string; file?: string } }
/** The events, a bundle's path (a file's test name, and where each event comes from) replaced by its source's. */
async function* renamed(events: AsyncIterable<Event>): AsyncGenerator<Event> {
  for await (const e of events) {
    const d = e.data
    if (d === undefined || sources.size === 0) yield e
    else {
      const name = d.name !== undefined ? sources.get(d.name) : undefined
      const file = d.file !== undefined ? sources.get(d.file) : undefined
      yield name === undefined && file === undefined ? e : { ...e, data: { ...d, ...(name && { name }), ...(file && { file }) } }
    }
  }
}
Readable.from(tap(renamed(stream as unknown as AsyncIterable<Event>) as unknown as Parameters<typeof tap>[0])).pipe(process.stdout)
