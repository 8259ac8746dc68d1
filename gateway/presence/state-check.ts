// Saved zone state is only as good as the site it was made for (issue 27): after a crash the site
// file may have changed (a shop renamed or removed), or an older gateway wrote another format.
// These checks decide, before the state is trusted, whether it still fits.
import { createHash } from 'node:crypto'
import type { Site } from '../../shared/site.ts'
import type { ShopPresence, ZoneTrack } from './zones.ts'
import type { SectorPresence } from './zone-types.ts'
import { SAFE_ID } from '../../shared/events.ts'

/** The format of saved zone state; bump it when ZoneTrack changes in a way old states cannot follow. */
export const STATE_VERSION = 1

/** Names the zones saved state refers to: the shops and sectors with their ids, shapes and floors. */
export function zonesKey(site: Site): string {
  const zones = site.file.features.filter(f => f.properties.kind === 'shop' || f.properties.kind === 'sector')
  return createHash('sha256').update(JSON.stringify(zones)).digest('hex').slice(0, 16)
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/** Earliest time a saved state may name: before it, a time is a corrupt value, not evidence. */
const EARLIEST = Date.UTC(2000, 0, 1)
/** How far past the wall clock a saved time may lie (a replay of a trace a little ahead), ms. */
const AHEAD_MS = 366 * 86_400_000
/** How long after its last evidence inside a visit may end (the walk to the outline), ms. */
const LEFT_BY_MS = 10 * 60_000

const isTime = (v: unknown, now: number): v is number => isNum(v) && v >= EARLIEST && v <= now + AHEAD_MS
const optional = (o: Record<string, unknown>, k: string, check: (v: unknown) => boolean): boolean => o[k] === undefined || check(o[k])
const isBool = (v: unknown): boolean => typeof v === 'boolean'
// A cost that was not finite is saved as null (JSON): a sum holding one still reads as before.
const isNums = (v: unknown): boolean => Array.isArray(v) && v.every(x => x === null || isNum(x))
/** A radio sum as zone-odds.ts keeps it: the per-offset costs inside and outside, and the numbers beside them. */
const isRadioSum = (v: unknown): boolean =>
  isObj(v) && isNums(v.inside) && isNums(v.outside) && ['base', 'mean', 'sd', 'overlap', 'fixes'].every(k => isNum(v[k])) && optional(v, 'untested', isNum)
const isPlace = (v: unknown): boolean => Array.isArray(v) && v.length === 2 && v.every(isNum)

/**
 * Why a saved track does not fit this site, or null when it does: every zone it names exists
 * (a sector in the shop it names), the fields a tick reads have their types, and its times are
 * plausible (a corrupt time would end a visit in 2100, or never).
 */
export function trackProblem(track: unknown, site: Site, now = Date.now()): string | null {
  if (!isObj(track)) return 'not an object'
  const shops = new Set(site.shops.map(s => s.id))
  const sectorShop = new Map(site.sectors.map(s => [s.id, s.shop]))
  const shop = track.shop
  if (shop !== null) {
    if (!isObj(shop)) return 'shop is not an object'
    if (typeof shop.id !== 'string' || !shops.has(shop.id)) return `shop ${String(shop.id)} is not in the site`
    if (typeof shop.visitId !== 'string') return 'shop without a visit id'
    for (const k of ['enteredAt', 'lastEvidence', 'score', 'n']) if (!isNum(shop[k])) return `shop.${k} is not a number`
    for (const k of ['enteredAt', 'lastEvidence']) if (!isTime(shop[k], now)) return `shop.${k} is not a plausible time`
    if ((shop.enteredAt as number) > (shop.lastEvidence as number)) return 'shop entered after its last evidence'
    if (!optional(shop, 'leftBy', v => isNum(v) && v >= (shop.enteredAt as number) && v <= (shop.lastEvidence as number) + LEFT_BY_MS)) return 'shop.leftBy is not a plausible time'
    // An unknown depth (another floor's, -Infinity) is saved as null.
    for (const k of ['depth', 'depthAt']) if (!optional(shop, k, v => v === null || isNum(v))) return `shop.${k} is not a number`
    for (const k of ['jumped', 'pending', 'weak']) if (!optional(shop, k, isBool)) return `shop.${k} is not a boolean`
    // Every other field a tick reads (copyTrack copies the arrays inside these): a damaged one would
    // pass here and throw at the first tick instead.
    if (!optional(shop, 'radio', isRadioSum)) return 'shop.radio is not a radio sum'
    if (!optional(shop, 'accuracy', v => isObj(v) && isNum(v.sum) && isNum(v.n))) return 'shop.accuracy is not a sum'
    for (const k of ['held', 'proves']) if (!optional(shop, k, v => Array.isArray(v) && v.every(isObj))) return `shop.${k} is not a list of events`
    for (const k of ['from', 'to']) if (!optional(shop, k, isPlace)) return `shop.${k} is not a place`
    for (const k of ['nextTest', 'passerByTests']) if (!optional(shop, k, isNum)) return `shop.${k} is not a number`
    if (!isObj(shop.sectors)) return 'shop.sectors is not an object'
    for (const [id, dwell] of Object.entries(shop.sectors)) {
      if (sectorShop.get(id) !== shop.id) return `shop.sectors names ${id}, not a sector of ${shop.id}`
      if (!isNum(dwell) || dwell < 0) return `shop.sectors.${id} is not a dwell`
    }
  }
  for (const k of ['shopCand', 'sectorCand']) {
    const c = track[k]
    if (c === null || c === undefined) continue
    if (!isObj(c) || typeof c.id !== 'string') return `${k} is not a candidate`
    if (k === 'shopCand' ? !shops.has(c.id) : !sectorShop.has(c.id)) return `${k} ${c.id} is not in the site`
    for (const f of ['since', 'lastEvidence', 'score', 'n']) if (!isNum(c[f])) return `${k}.${f} is not a number`
    for (const f of ['since', 'lastEvidence']) if (!isTime(c[f], now)) return `${k}.${f} is not a plausible time`
    if (!optional(c, 'radio', isRadioSum)) return `${k}.radio is not a radio sum`
  }
  const sector = track.sector
  if (sector !== null && sector !== undefined) {
    if (!isObj(sector) || typeof sector.id !== 'string') return 'sector is not an object'
    if (!sectorShop.has(sector.id)) return `sector ${sector.id} is not in the site`
    if (isObj(shop) && sectorShop.get(sector.id) !== shop.id) return `sector ${sector.id} is not in shop ${String(shop.id)}`
    for (const f of ['enteredAt', 'lastEvidence']) if (!isTime(sector[f], now)) return `sector.${f} is not a plausible time`
    if ((sector.enteredAt as number) > (sector.lastEvidence as number)) return 'sector entered after its last evidence'
    for (const f of ['score', 'n', 'dwellSent']) if (!isNum(sector[f])) return `sector.${f} is not a number`
  }
  return null
}

/** The track as saved, when it can be read at all (for closing its visit), else null. */
export function parseTrack(state: string): ZoneTrack | null {
  try {
    const t: unknown = JSON.parse(state)
    return isObj(t) ? (t as unknown as ZoneTrack) : null
  } catch {
    return null
  }
}

/**
 * The announced visit of a misfit track, cleaned so that closing it publishes only what is sound:
 * sectors of the site with numeric dwells, times in order; null when there is none to close (no
 * visit, one still held back, or no plausible last evidence to end it at).
 */
export function closableShop(track: ZoneTrack, site: Site, now = Date.now()): ShopPresence | null {
  const shop: unknown = track.shop
  if (!isObj(shop) || typeof shop.id !== 'string' || typeof shop.visitId !== 'string' || shop.pending === true) return null
  const last = shop.lastEvidence
  if (!isTime(last, now)) return null
  const enteredAt = isTime(shop.enteredAt, now) && shop.enteredAt <= last ? shop.enteredAt : last
  const sectorShop = new Map(site.sectors.map(s => [s.id, s.shop]))
  const sectors: Record<string, number> = {}
  if (isObj(shop.sectors)) for (const [id, dwell] of Object.entries(shop.sectors)) if (sectorShop.get(id) === shop.id && isNum(dwell) && dwell >= 0) sectors[id] = dwell
  const leftBy = isNum(shop.leftBy) && shop.leftBy >= enteredAt && shop.leftBy <= last + LEFT_BY_MS ? shop.leftBy : last
  return { id: shop.id, visitId: shop.visitId, enteredAt, lastEvidence: last, leftBy, score: isNum(shop.score) ? shop.score : 0, n: isNum(shop.n) ? shop.n : 0, sectors }
}

const SAFE = new RegExp(SAFE_ID)

/**
 * The open sector stay of a state being dropped, as sound as its visit `shop` (closableShop), or
 * null. Whether the site still has that sector does not matter: its `sector.enter` went out under
 * the old site, and the stay must be closed under the name it was opened with, or it stays open
 * for ever downstream (the central server's `an_open_stays`).
 */
export function closableSector(track: ZoneTrack, shop: ShopPresence, now = Date.now()): SectorPresence | null {
  const s: unknown = track.sector
  if (!isObj(s) || typeof s.id !== 'string' || s.id.length > 100 || !SAFE.test(s.id)) return null
  const last = isTime(s.lastEvidence, now) ? Math.min(s.lastEvidence, shop.lastEvidence) : shop.lastEvidence
  const enteredAt = isTime(s.enteredAt, now) ? Math.min(Math.max(s.enteredAt, shop.enteredAt), last) : last
  return { id: s.id, enteredAt, lastEvidence: last, score: isNum(s.score) ? s.score : 0, n: isNum(s.n) ? s.n : 0, dwellSent: 0 }
}
