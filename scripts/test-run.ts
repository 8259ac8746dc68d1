// One pass of the test runner over the files given, in the order given: `node --test` sorts its
// file arguments, which would undo scripts/test.ts's slowest-first order. Same settings as the
// command line it replaces: two files at a time, each in its own process (this one's --import tsx
// passed on), and a file exits once its tests have ended, whatever it left open.
// Usage: node --import tsx scripts/test-run.ts FILE ... (exit code 1 when a test failed).
import { run } from 'node:test'
import { tap } from 'node:test/reporters'
import { resolve } from 'node:path'

const files = process.argv.slice(2).map(f => resolve(f))
let failed = false
const stream = run({ files, concurrency: 2, forceExit: true } as Parameters<typeof run>[0])
// A todo test that fails does not fail the run, as on the command line.
stream.on('test:fail', e => {
  if (!e.todo) failed = true
})
stream.on('end', () => {
  process.exitCode = failed ? 1 : 0
})
stream.compose(tap).pipe(process.stdout)
