// instore-import-kolakowski: the real BLE flat data set as a site file and traces.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCommand } from '../shared/cli.ts'
import { createLogger } from '../shared/log.ts'
import { convertSite, convertTrack, PERSON_ID } from './kolakowski.ts'

const spec = {
  name: 'instore-import-kolakowski',
  summary: 'convert ../shared/data/kolakowski-ble-flat into a site file, the robot and walking-person test traces and the calibration trace',
  options: {
    data: { type: 'string', doc: 'the data set folder', default: '../shared/data/kolakowski-ble-flat' },
    out: { type: 'string', doc: 'output folder', default: 'out/kolakowski' }
  }
} as const

await runCommand(spec, async (o) => {
  const log = createLogger({ base: { name: spec.name } })
  mkdirSync(o.out, { recursive: true })
  const site = convertSite(o.data)
  const sensors = site.features.filter(f => f.properties.kind === 'sensor').map(f => f.properties.id)
  const files = {
    site: join(o.out, 'flat.site.json'),
    robot: join(o.out, 'robot.jsonl'),
    // The walking-person test, where the data set has one.
    ...(existsSync(join(o.data, 'tests/test_walk_df.csv')) ? { walk: join(o.out, 'walk.jsonl') } : {}),
    calibration: join(o.out, 'calibration.jsonl')
  }
  writeFileSync(files.site, JSON.stringify(site, null, 1) + '\n')
  const write = (path: string, lines: unknown[]) => writeFileSync(path, lines.map(l => JSON.stringify(l)).join('\n') + '\n')
  write(files.robot, convertTrack(join(o.data, 'tests/test_robot_df.csv'), sensors))
  if (files.walk !== undefined) write(files.walk, convertTrack(join(o.data, 'tests/test_walk_df.csv'), sensors, PERSON_ID))
  write(files.calibration, convertTrack(join(o.data, 'calibration/calibration_df.csv'), sensors))
  log.info('done', files)
})
