// instore-replay ends with a reason and a non-zero code on a trace it cannot read, whatever the
// broker (repro: a missing trace left it connected to the broker, never exiting).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runBin } from '../helpers/run.ts'
import { startGateway } from '../helpers/gateway.ts'

test('instore-replay exits with the reason on a trace it cannot replay, the broker up', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'replay-cli-'))
  writeFileSync(join(dir, 'garbage.jsonl'), '{"v":1,"type":"reading"\nnot json at all\n')
  const g = await startGateway()
  try {
    const cases: Array<{ trace: string; code: number; says: RegExp }> = [
      { trace: join(dir, 'does-not-exist.jsonl'), code: 2, says: /--trace .*does-not-exist\.jsonl: no such file/ },
      { trace: dir, code: 2, says: /not a file/ },
      { trace: join(dir, 'garbage.jsonl'), code: 1, says: /"level":"error"/ }
    ]
    for (const c of cases) {
      const r = await runBin('instore-replay', ['--trace', c.trace, '--broker', g.mqttUrl])
      assert.equal(r.code, c.code, `${c.trace}: ${r.stdout}${r.stderr}`)
      assert.match(r.stdout + r.stderr, c.says)
    }
  } finally {
    await g.stop()
  }
})
