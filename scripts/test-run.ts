// One pass of the test runner over the files given, in the order given: `node --test` sorts its
// file arguments, which would undo scripts/test.ts's slowest-first order. Same settings as the
// command line it replaces: two files at a time, each in its own process (this one's --import tsx
// passed on), and a file exits once its tests have ended, whatever it left open. A file still
// running after its timeout is stopped and reported `not ok` with its name; the others go on.
// Usage: node --import tsx scripts/test-run.ts FILE ... (exit code 1 when a test failed).
// INSTORE_TEST_FILE_TIMEOUT_MS: the timeout of one file, ms (default 8 minutes: far above the slowest
// file on a loaded machine, far below the pass limit of scripts/test.ts).
import { run } from 'node:test'
import { tap } from 'node:test/reporters'
import { resolve } from 'node:path'

const FILE_TIMEOUT_MS = 8 * 60_000
const asked = Number(process.env.INSTORE_TEST_FILE_TIMEOUT_MS)
const timeout = Number.isInteger(asked) && asked > 0 ? asked : FILE_TIMEOUT_MS
const files = process.argv.slice(2).map(f => resolve(f))
let failed = false
const stream = run({ files, concurrency: 2, forceExit: true, timeout } as Parameters<typeof run>[0])
// A todo test that fails does not fail the run, as on the command line.
stream.on('test:fail', e => {
  if (!e.todo) failed = true
})
stream.on('end', () => {
  process.exitCode = failed ? 1 : 0
})
stream.compose(tap).pipe(process.stdout)
