// How many people a live snapshot may say a shop or sector holds: its floor area times a crowd
// density no shop floor reaches (a crush), or the site's own `people.maxPeoplePerM2` when that is
// higher, at least one. The gateway bounds its own counts by that setting (default 2, schema up to
// 10) and leaves the excess out, so the server never refuses what a gateway may count; past this ceiling
// comes from a broken or hostile gateway (the schema alone allowed 1,000,000 in a boutique), and
// its snapshot is refused rather than shown. Passers-by are outside the site: the schema bounds them.
// Zones the site does not have are dropped from the snapshot (counts and positions' shop and
// sector) and counted: no ceiling applies to them, and a dashboard stream would carry them as sent.
import { parseSite, type Site, type Zone } from '../../shared/site.ts'
import type { Db } from '../db/db.ts'
import type { LiveSnapshotT } from '../schemas.ts'

/** People a square metre that no shop floor holds: the server's ceiling unless a site sets a higher one. */
export const CRUSH_PER_M2 = 6

type Caps = Map<string, number>

/** Area of a zone, m²: its outer ring less its holes (shoelace). */
function zoneArea(z: Zone): number {
  const ring = (r: number[][]) => {
    let a = 0
    for (let i = 0; i + 1 < r.length; i++) a += r[i][0] * r[i + 1][1] - r[i + 1][0] * r[i][1]
    return Math.abs(a) / 2
  }
  const [outer, ...holes] = z.polygon.coordinates
  return Math.max(0, ring(outer) - holes.reduce((a, h) => a + ring(h), 0))
}

/** Each store's ceilings, read again when its site changes (a re-provisioning, on any replica). */
export class LiveCapacity {
  /** Per store, its ceilings as of its site's `updated`, or null when that site no longer parses (not parsed again). */
  private readonly cache = new Map<string, { updated: number; caps: { shops: Caps; sectors: Caps } | null }>()
  constructor(private readonly db: Db) {}

  /**
   * The first count past its zone's ceiling, described; null when every count is plausible. Each
   * source's share (`bySource`) past its zone's ceiling is cut to it here rather than refused: a
   * gateway of an earlier version left shares unbounded (a BLE flood counted devices), and its
   * snapshot must still be shown; what is shown never exceeds what the floor holds.
   */
  async check(snapshot: Pick<LiveSnapshotT, 'occupancy' | 'positions'>, storeId: string, onUnknown: (n: number) => void = () => {}): Promise<string | null> {
    const caps = await this.of(storeId)
    if (!caps) return null
    onUnknown(dropUnknown(snapshot, caps))
    const occupancy = snapshot.occupancy
    if (occupancy === null) return null
    const by = occupancy.bySource
    for (const g of [by?.app, by?.ble, by?.wifi]) {
      if (!g) continue
      for (const [counts, max] of [
        [g.shops, caps.shops],
        [g.sectors, caps.sectors]
      ] as const) {
        for (const [id, n] of Object.entries(counts)) counts[id] = Math.min(n, max.get(id) ?? n)
      }
    }
    for (const g of [occupancy, occupancy.low, occupancy.high]) {
      if (!g) continue
      for (const [kind, counts, max] of [
        ['shop', g.shops, caps.shops],
        ['sector', g.sectors, caps.sectors]
      ] as const) {
        for (const [id, n] of Object.entries(counts)) {
          const cap = max.get(id)
          if (cap !== undefined && n > cap) return `${kind} ${id} cannot hold ${n} people (its area holds at most ${cap})`
        }
      }
    }
    return null
  }

  private async of(storeId: string): Promise<{ shops: Caps; sectors: Caps } | null> {
    const row = await this.db.selectFrom('stores').select('updated').where('id', '=', storeId).executeTakeFirst()
    if (!row) return null
    const updated = Number(row.updated)
    const known = this.cache.get(storeId)
    if (known && known.updated === updated) return known.caps
    const site = await this.db.selectFrom('stores').select('site').where('id', '=', storeId).executeTakeFirst()
    if (!site) return null
    let s: Site
    try {
      s = parseSite(JSON.parse(site.site) as unknown, storeId)
    } catch {
      // A site stored under an older schema: its counts go unbounded here rather than refused.
      this.cache.set(storeId, { updated, caps: null })
      return null
    }
    const perM2 = Math.max(CRUSH_PER_M2, s.file.people?.maxPeoplePerM2 ?? 0)
    const caps = (zones: Zone[]) => new Map(zones.map(z => [z.id, Math.max(1, Math.ceil(zoneArea(z) * perM2))]))
    const entry = { shops: caps(s.shops), sectors: caps(s.sectors) }
    this.cache.set(storeId, { updated, caps: entry })
    return entry
  }
}

/** Drops the counts under zone ids the site does not have, and such ids from positions: how many. */
function dropUnknown(snapshot: Pick<LiveSnapshotT, 'occupancy' | 'positions'>, caps: { shops: Caps; sectors: Caps }): number {
  let n = 0
  const o = snapshot.occupancy
  const by = o?.bySource
  for (const g of [o, o?.low, o?.high, by?.app, by?.ble, by?.wifi]) {
    if (!g) continue
    for (const [counts, known] of [
      [g.shops, caps.shops],
      [g.sectors, caps.sectors]
    ] as const)
      for (const id of Object.keys(counts))
        if (!known.has(id)) {
          delete counts[id]
          n++
        }
  }
  for (const p of snapshot.positions) {
    if (p.shop !== null && !caps.shops.has(p.shop)) {
      p.shop = null
      n++
    }
    if (p.sector !== null && !caps.sectors.has(p.sector)) {
      p.sector = null
      n++
    }
  }
  return n
}
