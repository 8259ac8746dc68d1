// Loads and validates a site file (contract §1) into a ready-to-use model. An invalid file is
// refused with every problem listed (JSON path and reason).
import { Type } from '@sinclair/typebox'
import { booleanValid } from '@turf/boolean-valid'
import { booleanWithin } from '@turf/boolean-within'
import { SiteSchema, featureSchemas, type SiteFile, type Polygon, type Radio, type SensorFeatureT, type RadioMapData } from './site-schema.ts'
import { peopleListProblems } from './people-lists.ts'
import { siteExtentProblems } from './site-extent.ts'
import { schemaProblems, formatProblems, readText, type Problem } from './schema-errors.ts'
import { pointInPolygon, polygonBBox, interiorsOverlap, ringSelfIntersects, type BBox } from './geometry.ts'

export class SiteError extends Error {
  constructor(
    readonly file: string,
    readonly problems: Problem[]
  ) {
    super(`invalid site file ${file}: ${problems.length} problem(s)\n${formatProblems(problems)}`)
  }
}

export interface Zone {
  id: string
  name: string
  floor: number
  polygon: Polygon
  bbox: BBox
  shop?: string
}
export interface SensorInfo {
  id: string
  x: number
  y: number
  z: number
  floor: number
  radios: Array<'ble' | 'wifi'>
  offsetDb: number
  rssiAt1m: number
  pathLossExponent: number
  mac?: string
  radioMap?: RadioMapData
}
export interface BeaconInfo {
  id: string
  x: number
  y: number
  z: number
  floor: number
  rssiAt1m: number
}

export interface Site {
  file: SiteFile
  storeId: string
  timezone: string
  radio: Required<Radio>
  shops: Zone[]
  sectors: Zone[]
  sensors: Map<string, SensorInfo>
  beacons: Map<string, BeaconInfo>
  /** Bounding box of all shops and sensors, metres. */
  bbox: BBox
}

export const defaultRadio: Required<Radio> = {
  pathLossExponent: 2.2,
  rssiAt1m: -59,
  wifiRssiAt1m: -45,
  tagHeightM: 1.2,
  shadowingDb: 6,
  accuracyScale: 1,
  outsideHeard: true
}

export function loadSiteFile(path: string): Site {
  let text: string
  try {
    text = readText(path)
  } catch (err) {
    throw new SiteError(path, [{ path: '', reason: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }])
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new SiteError(path, [{ path: '', reason: `not JSON: ${(err as Error).message}` }])
  }
  return parseSite(json, path)
}

/** Validates a parsed site document; throws SiteError listing every problem. */
export function parseSite(json: unknown, name = 'site'): Site {
  const problems = siteProblems(json)
  if (problems.length > 0) throw new SiteError(name, problems)
  return buildSite(json as SiteFile)
}

export function siteProblems(json: unknown): Problem[] {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return [{ path: '', reason: 'must be a JSON object (a GeoJSON FeatureCollection)' }]
  const doc = json as Record<string, unknown>
  // Check the envelope with features left opaque, then each feature by its kind, so a bad feature
  // reports its own fields rather than four union alternatives.
  const problems = schemaProblems({ ...SiteSchema, properties: { ...SiteSchema.properties, features: Type.Array(Type.Unknown()) } }, json)
  const features = Array.isArray(doc.features) ? (doc.features as unknown[]) : []
  const ok: Array<{ i: number; f: SiteFile['features'][number] }> = []
  features.forEach((f, i) => {
    const kind = (f as { properties?: { kind?: unknown } } | null)?.properties?.kind
    const schema = featureSchemas[kind as keyof typeof featureSchemas]
    if (typeof kind !== 'string' || schema === undefined) {
      problems.push({ path: `/features/${i}/properties/kind`, reason: `unknown kind ${JSON.stringify(kind)} (expected shop, sector, sensor or beacon)` })
      return
    }
    const p = schemaProblems(schema, f, `/features/${i}`)
    if (p.length > 0) problems.push(...p)
    else ok.push({ i, f: f as SiteFile['features'][number] })
  })
  if (typeof doc.timezone === 'string' && !validTimeZone(doc.timezone)) problems.push({ path: '/timezone', reason: `unknown time zone '${doc.timezone}'` })
  // A shop whose own fields or outline are wrong is reported once: its sectors do not name an unknown shop.
  const declaredShops = new Set(
    features
      .map(f => (f as { properties?: { kind?: unknown; id?: unknown } } | null)?.properties)
      .filter(p => p?.kind === 'shop')
      .map(p => p?.id)
  )
  problems.push(...semanticProblems(ok, declaredShops), ...peopleListProblems(doc.people), ...siteExtentProblems(ok))
  if (!ok.some(({ f }) => f.properties.kind === 'sensor' || f.properties.kind === 'beacon') && !problems.some(p => /\/features\/\d+/.test(p.path))) {
    problems.push({ path: '/features', reason: 'needs at least one sensor or beacon' })
  }
  return problems
}

function semanticProblems(ok: Array<{ i: number; f: SiteFile['features'][number] }>, declaredShops: Set<unknown>): Problem[] {
  const problems: Problem[] = []
  const ids = new Map<string, number>()
  const shops = new Map<string, { i: number; poly: Polygon; floor: number }>()
  for (const { i, f } of ok) {
    const id = f.properties.id
    const key = f.properties.kind + ':' + id
    if (ids.has(key)) problems.push({ path: `/features/${i}/properties/id`, reason: `duplicate ${f.properties.kind} id '${id}' (first at /features/${ids.get(key)})` })
    else ids.set(key, i)
    if (f.geometry.type === 'Polygon') {
      const ringProblems = polygonProblems(f.geometry)
      for (const r of ringProblems) problems.push({ path: `/features/${i}/geometry`, reason: r })
      if (f.properties.kind === 'shop' && ringProblems.length === 0) shops.set(id, { i, poly: f.geometry, floor: f.properties.floor ?? 0 })
    }
  }
  const sectors: Array<{ i: number; id: string; poly: Polygon; shop: string; floor: number }> = []
  for (const { i, f } of ok) {
    if (f.properties.kind !== 'sector' || polygonProblems(f.geometry as Polygon).length > 0) continue
    const shop = shops.get(f.properties.shop)
    if (shop === undefined) {
      if (!declaredShops.has(f.properties.shop))
        problems.push({ path: `/features/${i}/properties/shop`, reason: `sector '${f.properties.id}' names unknown shop '${f.properties.shop}'` })
      continue
    }
    if (!booleanWithin(f.geometry as Polygon, shop.poly))
      problems.push({ path: `/features/${i}/geometry`, reason: `sector '${f.properties.id}' is not inside its shop '${f.properties.shop}'` })
    const floor = f.properties.floor ?? 0
    if (floor !== shop.floor)
      problems.push({ path: `/features/${i}/properties/floor`, reason: `sector '${f.properties.id}' is on floor ${floor}, its shop '${f.properties.shop}' on floor ${shop.floor}` })
    sectors.push({ i, id: f.properties.id, poly: f.geometry as Polygon, shop: f.properties.shop, floor })
  }
  for (let a = 0; a < sectors.length; a++) {
    for (let b = a + 1; b < sectors.length; b++) {
      // Sectors on different floors may lie one above the other.
      if (sectors[a].floor !== sectors[b].floor) continue
      const A = sectors[a].poly
      const B = sectors[b].poly
      if (interiorsOverlap(A, B)) {
        problems.push({ path: `/features/${sectors[b].i}/geometry`, reason: `sector '${sectors[b].id}' overlaps sector '${sectors[a].id}'` })
      }
    }
  }
  return problems
}

/**
 * Vertices a ring of a shop or sector may have: far more than any floor plan needs, and few enough
 * that every check and map built from the outline at start-up stays quick (the crossing check is
 * quadratic on a fine zigzag: without a cap a valid site could hold the gateway's start, silent).
 */
export const MAX_RING_VERTICES = 10_000

function polygonProblems(poly: Polygon): string[] {
  const out: string[] = []
  const long = poly.coordinates.findIndex(ring => ring.length > MAX_RING_VERTICES)
  if (long >= 0) return [`ring ${long} has ${poly.coordinates[long].length} vertices: at most ${MAX_RING_VERTICES} (simplify the outline)`]
  for (const [r, ring] of poly.coordinates.entries()) {
    const a = ring[0]
    const b = ring[ring.length - 1]
    if (a[0] !== b[0] || a[1] !== b[1]) out.push(`ring ${r} is not closed (first and last positions differ)`)
  }
  if (out.length === 0 && (poly.coordinates.some(ringSelfIntersects) || !booleanValid(poly))) out.push('polygon is not valid (self-intersecting or degenerate ring)')
  return out
}

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz })
    return true
  } catch {
    return false
  }
}

function buildSite(file: SiteFile): Site {
  const radio: Required<Radio> = { ...defaultRadio, ...(file.radio ?? {}) }
  if (file.radio?.wifiRssiAt1m === undefined) radio.wifiRssiAt1m = radio.rssiAt1m + 14
  const shops: Zone[] = []
  const sectors: Zone[] = []
  const sensors = new Map<string, SensorInfo>()
  const beacons = new Map<string, BeaconInfo>()
  for (const f of file.features) {
    const p = f.properties
    if (p.kind === 'shop' || p.kind === 'sector') {
      const polygon = f.geometry as Polygon
      const zone: Zone = { id: p.id, name: p.name ?? p.id, floor: p.floor ?? 0, polygon, bbox: polygonBBox(polygon) }
      if (p.kind === 'sector') {
        zone.shop = p.shop
        sectors.push(zone)
      } else shops.push(zone)
    } else if (p.kind === 'sensor') {
      sensors.set(p.id, sensorInfo(f as SensorFeatureT, radio))
    } else {
      const [x, y] = f.geometry.coordinates as [number, number]
      beacons.set(p.id, { id: p.id, x, y, z: p.z ?? radio.tagHeightM, floor: p.floor ?? 0, rssiAt1m: p.rssiAt1m ?? radio.rssiAt1m })
    }
  }
  const xs: number[] = []
  const ys: number[] = []
  for (const z of shops) {
    xs.push(z.bbox[0], z.bbox[2])
    ys.push(z.bbox[1], z.bbox[3])
  }
  for (const s of sensors.values()) {
    xs.push(s.x)
    ys.push(s.y)
  }
  for (const b of beacons.values()) {
    xs.push(b.x)
    ys.push(b.y)
  }
  return {
    file,
    storeId: file.storeId,
    timezone: file.timezone ?? 'UTC',
    radio,
    shops,
    sectors,
    sensors,
    beacons,
    bbox: [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]
  }
}

function sensorInfo(f: SensorFeatureT, radio: Required<Radio>): SensorInfo {
  const p = f.properties
  const [x, y] = f.geometry.coordinates
  return {
    id: p.id,
    x,
    y,
    z: p.z ?? 2.5,
    floor: p.floor ?? 0,
    radios: p.radios ?? ['ble', 'wifi'],
    offsetDb: p.offsetDb ?? 0,
    rssiAt1m: p.rssiAt1m ?? radio.rssiAt1m,
    pathLossExponent: p.pathLossExponent ?? radio.pathLossExponent,
    ...(p.mac ? { mac: p.mac } : {}),
    ...(p.radioMap ? { radioMap: p.radioMap } : {})
  }
}

/** The shop (and sector within it) containing a point on a floor; null outside every shop. */
export function locate(site: Site, x: number, y: number, floor = 0): { shop: string | null; sector: string | null } {
  for (const shop of site.shops) {
    if (shop.floor !== floor || !pointInPolygon(x, y, shop)) continue
    for (const sec of site.sectors) {
      if (sec.shop === shop.id && sec.floor === floor && pointInPolygon(x, y, sec)) return { shop: shop.id, sector: sec.id }
    }
    return { shop: shop.id, sector: null }
  }
  return { shop: null, sector: null }
}
