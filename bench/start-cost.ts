// The CPU one start of a command costs, up to the line that says it has started: run under
// /usr/bin/time, which counts the children this script waited for (docs/development.md).
// Usage: /usr/bin/time -f "%U user %S sys" node --import tsx bench/start-cost.ts N ENTRY
//   ENTRY: bin/instore-server.mjs (through tsx), or a bundle from scripts/test-bins.ts.
import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const [n, entry] = process.argv.slice(2)
if (!(Number(n) > 0) || entry === undefined) {
  process.stderr.write('usage: start-cost.ts N ENTRY (an instore-server script)\n')
  process.exit(2)
}
for (let i = 0; i < Number(n); i++) {
  const data = mkdtempSync(join(tmpdir(), 'start-cost-'))
  const child = spawn(process.execPath, [entry, '--port', '0', '--data', data, '--admin-token', 'adm_start_cost_k3J9xQ2mV7pL4z'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const read = (d: Buffer): void => {
    out += d
    if (out.includes('"server started"')) child.kill('SIGKILL')
  }
  child.stdout.on('data', read)
  child.stderr.on('data', read)
  await new Promise(resolve => child.on('exit', resolve))
  if (!out.includes('"server started"')) {
    process.stderr.write(`start ${i + 1} did not start:\n${out}\n`)
    process.exit(1)
  }
}
