// instore-import-kolakowski: the real BLE flat data set as a site file and traces.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runCommand, UsageError } from '../shared/cli.ts'
import { createLogger } from '../shared/log.ts'
import { convertSite, convertTrack, convertTracks, datasetFiles, PERSON_ID } from './kolakowski.ts'

const spec = {
  name: 'instore-import-kolakowski',
  summary: 'convert ../shared/data/kolakowski-ble-flat into a site file, the robot and walking-person test traces and the calibration trace',
  options: {
    data: { type: 'string', doc: 'the data set folder', default: '../shared/data/kolakowski-ble-flat' },
    out: { type: 'string', doc: 'output folder', default: 'out/kolakowski' }
  }
} as const

await runCommand(spec, async o => {
  const log = createLogger({ base: { name: spec.name } })
  if (!existsSync(join(o.data, 'anchors.csv'))) throw new UsageError(`${o.data}: no anchors.csv (id,x,y,z of each receiver)`)
  mkdirSync(o.out, { recursive: true })
  const site = convertSite(o.data)
  const sensors = site.features.filter(f => f.properties.kind === 'sensor').map(f => f.properties.id)
  const found = datasetFiles(o.data)
  if (found.tracks.length === 0) throw new UsageError(`${o.data}: no test track with truth (tests/*.csv with ts, x, y and rssi_<anchor id> columns)`)
  const files = {
    site: join(o.out, 'flat.site.json'),
    robot: join(o.out, 'robot.jsonl'),
    // The walking-person test, where the data set has one.
    ...(found.walks.length > 0 ? { walk: join(o.out, 'walk.jsonl') } : {}),
    ...(found.calibration.length > 0 ? { calibration: join(o.out, 'calibration.jsonl') } : {})
  }
  writeFileSync(files.site, JSON.stringify(site, null, 1) + '\n')
  const write = (path: string, lines: unknown[]) => writeFileSync(path, lines.map(l => JSON.stringify(l)).join('\n') + '\n')
  write(files.robot, convertTrack(found.tracks[0], sensors))
  if (files.walk !== undefined) write(files.walk, convertTrack(found.walks[0], sensors, PERSON_ID))
  if (files.calibration !== undefined) write(files.calibration, convertTracks(found.calibration, sensors))
  log.info('done', files)
})
