// Option values the gateway refuses are named as the user gave them (repro: `--port -5` said
// "argument is ambiguous" with node's hint cut off; the same value from a --config file spoke of a
// command-line option; a config file with several bad values listed only the unknown key).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runBin, ROOT } from '../helpers/run.ts'

test('gateway option errors name the value, the config file and key, and every problem in the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-values-'))
  const site = join(ROOT, 'sites/boutique.site.json')
  const file = (name: string, o: Record<string, unknown>) => {
    writeFileSync(join(dir, name), JSON.stringify(o))
    return join(dir, name)
  }
  const neg = file('neg.json', { site, port: -5 })
  const three = file('three.json', { site, clock: 'fast', 'log-level': 'loud', prot: 1 })
  const cases: Array<{ args: string[]; says: RegExp[] }> = [
    { args: ['--site', site, '--port', '-5'], says: [/--port must be a port number 0-65535/] },
    { args: ['--config', neg], says: [/--port must be a port number 0-65535 \(the value of "port" in config file .*neg\.json\)/] },
    {
      args: ['--config', three],
      says: [
        /3 problem\(s\)/,
        /clock: must be one of wall, event, got "fast"/,
        /log-level: must be one of debug, info, warn, error, got "loud"/,
        /prot: unknown option \(did you mean "port"\?\)/
      ]
    },
    { args: ['--site', site, '--port', '--data', dir], says: [/argument is ambiguous.*use '--port=-XYZ'/] }
  ]
  for (const c of cases) {
    const r = await runBin('instore-gateway', [...c.args, '--data', join(dir, 'gw')])
    assert.equal(r.code, 2, `${c.args.join(' ')}: ${r.stdout}${r.stderr}`)
    for (const re of c.says) assert.match(r.stderr, re, c.args.join(' '))
  }
})
