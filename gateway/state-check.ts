// Saved zone state is only as good as the site it was made for (issue 27): after a crash the site
// file may have changed (a shop renamed or removed), or an older gateway wrote another format.
// These checks decide, before the state is trusted, whether it still fits.
import { createHash } from 'node:crypto'
import type { Site } from '../shared/site.ts'
import type { ZoneTrack } from './zones.ts'

/** The format of saved zone state; bump it when ZoneTrack changes in a way old states cannot follow. */
export const STATE_VERSION = 1

/** Names the zones saved state refers to: the shops and sectors with their ids, shapes and floors. */
export function zonesKey (site: Site): string {
  const zones = site.file.features.filter(f => f.properties.kind === 'shop' || f.properties.kind === 'sector')
  return createHash('sha256').update(JSON.stringify(zones)).digest('hex').slice(0, 16)
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/**
 * Why a saved track does not fit this site, or null when it does: every zone it names exists
 * (a sector in the shop it names), and the fields a tick reads have their types.
 */
export function trackProblem (track: unknown, site: Site): string | null {
  if (!isObj(track)) return 'not an object'
  const shops = new Set(site.shops.map(s => s.id))
  const sectorShop = new Map(site.sectors.map(s => [s.id, s.shop]))
  const shop = track.shop
  if (shop !== null) {
    if (!isObj(shop)) return 'shop is not an object'
    if (typeof shop.id !== 'string' || !shops.has(shop.id)) return `shop ${String(shop.id)} is not in the site`
    if (typeof shop.visitId !== 'string') return 'shop without a visit id'
    for (const k of ['enteredAt', 'lastEvidence', 'score', 'n']) if (!isNum(shop[k])) return `shop.${k} is not a number`
    if (!isObj(shop.sectors)) return 'shop.sectors is not an object'
  }
  for (const k of ['shopCand', 'sectorCand']) {
    const c = track[k]
    if (c === null || c === undefined) continue
    if (!isObj(c) || typeof c.id !== 'string') return `${k} is not a candidate`
    if (k === 'shopCand' ? !shops.has(c.id) : !sectorShop.has(c.id)) return `${k} ${c.id} is not in the site`
    for (const f of ['since', 'lastEvidence', 'score', 'n']) if (!isNum(c[f])) return `${k}.${f} is not a number`
  }
  const sector = track.sector
  if (sector !== null && sector !== undefined) {
    if (!isObj(sector) || typeof sector.id !== 'string') return 'sector is not an object'
    if (!sectorShop.has(sector.id)) return `sector ${sector.id} is not in the site`
    if (isObj(shop) && sectorShop.get(sector.id) !== shop.id) return `sector ${sector.id} is not in shop ${String(shop.id)}`
    for (const f of ['enteredAt', 'lastEvidence']) if (!isNum(sector[f])) return `sector.${f} is not a number`
  }
  return null
}

/** The track as saved, when it can be read at all (for closing its visit), else null. */
export function parseTrack (state: string): ZoneTrack | null {
  try {
    const t: unknown = JSON.parse(state)
    return isObj(t) ? t as unknown as ZoneTrack : null
  } catch { return null }
}
