// instore-import-openhps: the real OpenHPS phone-scan data set as a site file and traces.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCommand, UsageError } from '../shared/cli.ts'
import { createLogger } from '../shared/log.ts'
import { convertScans, convertSite, readBeacons, readScans, splitPath } from './openhps.ts'

const spec = {
  name: 'instore-import-openhps',
  summary:
    'convert ../shared/data/openhps-2021-ble (its 2021-02 folder) into a phone-scan site file, the test trace with truth, and the train trace kept for fingerprinting baselines',
  options: {
    data: { type: 'string', doc: 'the folder holding beacons.csv, train/ and test/', default: '../shared/data/openhps-2021-ble/2021-02' },
    out: { type: 'string', doc: 'output folder', default: 'out/openhps' }
  }
} as const

await runCommand(spec, async o => {
  const log = createLogger({ base: { name: spec.name } })
  if (!existsSync(join(o.data, 'beacons.csv'))) throw new UsageError(`${o.data}: no beacons.csv (x,y,name,mac of each beacon)`)
  if (!existsSync(splitPath(o.data, 'test'))) throw new UsageError(`${o.data}: no test/ble_fingerprints_raw.csv`)
  mkdirSync(o.out, { recursive: true })
  const beacons = readBeacons(o.data)
  const files = {
    site: join(o.out, 'floor.site.json'),
    test: join(o.out, 'test.jsonl'),
    // For baselines that learn from fingerprints; the gateway is never given it.
    ...(existsSync(splitPath(o.data, 'train')) ? { train: join(o.out, 'train.jsonl') } : {})
  }
  writeFileSync(files.site, JSON.stringify(convertSite(o.data), null, 1) + '\n')
  const write = (path: string, lines: unknown[]) => writeFileSync(path, lines.map(l => JSON.stringify(l)).join('\n') + '\n')
  write(files.test, convertScans(readScans(splitPath(o.data, 'test'), beacons)))
  if (files.train !== undefined) write(files.train, convertScans(readScans(splitPath(o.data, 'train'), beacons)))
  log.info('done', files)
})
