// The site's fixed beacons under the key a reading of them carries. A reading's id goes through
// the one classification of BLE ids (sensor-ids.ts): an iBeacon uuid in any case or form becomes
// its contract id, a MAC (alone or inside an id: `c3:00:11:22:33:44`, as bin/instore-import-openhps
// names beacons, or `shelf-1-2-3-4-5-6`) becomes its hashed subject. The site file's ids were kept as
// written, so such a beacon never matched and was taken for a shopper (tester s12 G). Here they are
// keyed the same way, once, when the pipeline starts: a MAC-named beacon is known by its hash from
// then on, and its address goes no further (metrics, self-calibration, positions).
import type { Logger } from '../../shared/log.ts'
import type { BeaconInfo, Site } from '../../shared/site.ts'
import { classifyBleId } from './sensor-ids.ts'
import { redactMacs, type SubjectHasher } from './subjects.ts'

/** The key a reading of `id` is matched on; undefined for an id many devices share (a class id). */
export function beaconKey(id: string, hasher: SubjectHasher): string | undefined {
  const c = classifyBleId(id)
  if (c.kind === 'stable') return c.id
  if (c.kind === 'mac') return hasher.hash(c.mac)
  return undefined
}

/**
 * The site with its beacons keyed as readings are (the rest unchanged). A beacon no reading can
 * name (a class id: `apple:…`, `name:…`) or one whose key another beacon already has is left out,
 * each with a warning that says why: kept, it would never be recognised, or be two places at once.
 */
export function keyedBeacons(site: Site, hasher: SubjectHasher, log: Logger): Site {
  const beacons = new Map<string, BeaconInfo>()
  for (const [id, b] of site.beacons) {
    const key = beaconKey(id, hasher)
    const shown = redactMacs(id)
    if (key === undefined) {
      log.warn('site beacon ignored: its id names a kind of device, not one device', { beacon: shown })
      continue
    }
    if (beacons.has(key)) {
      log.warn('site beacon ignored: another site beacon has the same id once normalised (case, separators, MAC form)', { beacon: shown })
      continue
    }
    beacons.set(key, { ...b, id: key })
  }
  return { ...site, beacons }
}
