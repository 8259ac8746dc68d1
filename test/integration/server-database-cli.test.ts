// Issue 29: instore-server's database options. A URL that is not PostgreSQL's, or a negative
// retention, is refused at start with the reason (exit 2), before anything is opened.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runBin } from '../helpers/run.ts'

test('instore-server refuses a database URL that is not postgres:// and a negative retention', async () => {
  const data = mkdtempSync(join(tmpdir(), 'server-cli-'))
  const cases: Array<[args: string[], reason: RegExp]> = [
    [['--database-url', 'mysql://u@h/db'], /--database-url .* must start with postgres:\/\/ or postgresql:\/\//],
    [['--database-url', '/var/lib/instore/server.sqlite'], /must start with postgres:\/\//],
    [['--retention-days=-1'], /--retention-days must be 0 \(keep for ever\) or more/]
  ]
  for (const [args, reason] of cases) {
    const r = await runBin('instore-server', ['--port', '0', '--data', data, ...args])
    assert.equal(r.code, 2, args.join(' '))
    assert.match(r.stderr + r.stdout, reason, args.join(' '))
  }
})
