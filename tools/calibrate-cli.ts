// instore-calibrate: fits the path loss (the site's exponent, each sensor's RSSI at 1 m) and residual maps
// from a calibration walk, measures how wide the published accuracy must be, and writes it all into
// the site file.
import { writeFileSync } from 'node:fs'
import { runCommand } from '../shared/cli.ts'
import { createLogger } from '../shared/log.ts'
import { loadSiteFile } from '../shared/site.ts'
import { readJsonLines, type TraceLine } from '../shared/trace.ts'
import { calibrate, applyCalibration } from './calibrate.ts'

const spec = {
  name: 'instore-calibrate',
  summary: "fit the path-loss exponent, each sensor's RSSI at 1 m and residual maps from a walk with known positions",
  usage: 'instore-calibrate --site SITE --trace CALIBRATION.jsonl --out SITE.calibrated.json',
  options: {
    site: { type: 'string', doc: 'site file', required: true },
    trace: { type: 'string', doc: 'calibration walk: a trace with truth lines (contract §7)', required: true },
    out: { type: 'string', doc: 'site file to write (may be the same as --site)', required: true },
    'tag-height': { type: 'number', doc: "height of the walked tag, m (default: the site's radio.tagHeightM)" },
    'no-maps': { type: 'boolean', doc: 'fit the path-loss model only, without per-sensor residual maps' },
    'max-gap-ms': {
      type: 'number',
      doc: 'a reading this far from the nearest truth line is not placed (truth between lines is interpolated; widen it for walks that log a point once and stand there)',
      default: 1500
    }
  }
} as const

await runCommand(spec, async o => {
  const log = createLogger({ base: { name: spec.name } })
  const site = loadSiteFile(o.site)
  const lines: TraceLine[] = []
  for await (const l of readJsonLines<TraceLine>(o.trace)) lines.push(l)
  const result = calibrate(site, lines, { tagHeight: o['tag-height'], maps: !o['no-maps'], maxGapMs: o['max-gap-ms'] })
  if (result.sensors.length === 0) throw new Error("no sensor had enough readings with a known position (need truth lines for the readings' ids)")
  writeFileSync(o.out, JSON.stringify(applyCalibration(site.file, result), null, 1) + '\n')
  for (const { map: _map, ...s } of result.sensors) log.info('sensor', { ...s })
  log.info('done', {
    out: o.out,
    sensors: result.sensors.length,
    shadowingDb: result.shadowingDb,
    accuracyScale: result.accuracyScale,
    ...result.accuracyCheck,
    mapBandwidthM: result.mapBandwidthM,
    bandwidthsTried: result.bandwidthsTried,
    skipped: result.skipped
  })
})
