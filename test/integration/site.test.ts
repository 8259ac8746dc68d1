import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseSite, siteProblems, loadSiteFile, SiteError, locate } from '../../shared/site.ts'
import { runBin, ROOT } from '../helpers/run.ts'
import { rect } from '../helpers/geo.ts'

const good = () =>
  ({
    type: 'FeatureCollection',
    storeId: 's1',
    timezone: 'Europe/Berlin',
    radio: { pathLossExponent: 2.2, rssiAt1m: -59 },
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'main' }, geometry: rect(0, 0, 30, 20) },
      { type: 'Feature', properties: { kind: 'sector', id: 'coffee', shop: 'main' }, geometry: rect(0, 0, 8, 6) },
      { type: 'Feature', properties: { kind: 'sector', id: 'tea', shop: 'main' }, geometry: rect(8, 0, 12, 6) },
      { type: 'Feature', properties: { kind: 'sensor', id: 'r1', radios: ['ble', 'wifi'], z: 2.5, offsetDb: 0 }, geometry: { type: 'Point', coordinates: [0.5, 0.5] } },
      { type: 'Feature', properties: { kind: 'beacon', id: 'ibeacon:f7826da6-4fa2-4e98-8024-bc5b71e0893e:1:7', rssiAt1m: -62 }, geometry: { type: 'Point', coordinates: [4, 3] } }
    ]
  }) as Record<string, unknown>

/** Sets a value at a JSON-pointer-like path ('/features/0/properties/kind'), creating nothing. */
function set(doc: unknown, path: string, value: unknown): void {
  const keys = path.split('/').slice(1)
  let node = doc as Record<string, unknown>
  for (const k of keys.slice(0, -1)) node = node[k] as Record<string, unknown>
  node[keys[keys.length - 1]] = value
}
function get(doc: unknown, path: string): unknown {
  return path
    .split('/')
    .slice(1)
    .reduce<unknown>((n, k) => (n as Record<string, unknown>)[k], doc)
}

function reasons(doc: unknown): string[] {
  return siteProblems(doc).map(p => `${p.path}: ${p.reason}`)
}

test('a valid site loads, with sectors that share an edge', () => {
  const site = parseSite(good())
  assert.equal(site.storeId, 's1')
  assert.equal(site.sectors.length, 2)
  assert.equal(site.sensors.get('r1')?.z, 2.5)
  assert.deepEqual(locate(site, 1, 1), { shop: 'main', sector: 'coffee' })
  assert.deepEqual(locate(site, 20, 10), { shop: 'main', sector: null })
  assert.deepEqual(locate(site, 40, 10), { shop: null, sector: null })
})

const cases: Array<[string, (d: Record<string, unknown>) => void, RegExp]> = [
  ['not an object', d => set(d, '/features', 'x'), /\/features: Expected array/],
  ['wrong type', d => set(d, '/type', 'Feature'), /\/type: Expected/],
  ['unknown kind', d => set(d, '/features/0/properties/kind', 'door'), /\/features\/0\/properties\/kind: unknown kind "door"/],
  ['wrong field type', d => set(d, '/features/3/properties/z', 'high'), /\/features\/3\/properties\/z: Expected number/],
  ['open ring', d => set(d, '/features/1/geometry/coordinates/0/4', [0, 1]), /\/features\/1\/geometry: ring 0 is not closed/],
  [
    'self-intersecting polygon',
    d =>
      set(d, '/features/0/geometry/coordinates/0', [
        [0, 0],
        [30, 20],
        [30, 0],
        [0, 20],
        [0, 0]
      ]),
    /\/features\/0\/geometry: polygon is not valid/
  ],
  ['duplicate id', d => set(d, '/features/5', structuredClone(get(d, '/features/3'))), /\/features\/5\/properties\/id: duplicate sensor id 'r1'/],
  ['sector outside its shop', d => set(d, '/features/2/geometry', rect(25, 0, 35, 6)), /\/features\/2\/geometry: sector 'tea' is not inside its shop 'main'/],
  ['sector names unknown shop', d => set(d, '/features/2/properties/shop', 'annex'), /\/features\/2\/properties\/shop: sector 'tea' names unknown shop 'annex'/],
  ['overlapping sectors', d => set(d, '/features/2/geometry', rect(6, 0, 12, 6)), /\/features\/2\/geometry: sector 'tea' overlaps sector 'coffee'/],
  [
    'sector on another floor than its shop',
    d => set(d, '/features/2/properties/floor', 1),
    /\/features\/2\/properties\/floor: sector 'tea' is on floor 1, its shop 'main' on floor 0/
  ],
  ['no sensor or beacon', d => set(d, '/features', (get(d, '/features') as unknown[]).slice(0, 3)), /\/features: needs at least one sensor or beacon/],
  ['bad time zone', d => set(d, '/timezone', 'Mars/Olympus'), /\/timezone: unknown time zone/],
  ['RSSI out of range', d => set(d, '/features/3/properties/offsetDb', 99), /\/features\/3\/properties\/offsetDb: Expected number to be less or equal to 40/]
]

for (const [name, mutate, expected] of cases) {
  test(`site validation: ${name}`, () => {
    const doc = good()
    mutate(doc)
    const found = reasons(doc)
    assert.ok(
      found.some(r => expected.test(r)),
      `expected ${expected} in\n${found.join('\n')}`
    )
  })
}

test('a multi-floor site: sectors one above the other are not overlapping, and locate takes the floor', () => {
  const doc = good()
  const features = get(doc, '/features') as unknown[]
  features.push(
    { type: 'Feature', properties: { kind: 'shop', id: 'upstairs', floor: 1 }, geometry: rect(0, 0, 30, 20) },
    { type: 'Feature', properties: { kind: 'sector', id: 'books', shop: 'upstairs', floor: 1 }, geometry: rect(0, 0, 8, 6) }
  )
  assert.deepEqual(reasons(doc), [])
  const site = parseSite(doc)
  assert.deepEqual(locate(site, 1, 1, 1), { shop: 'upstairs', sector: 'books' })
  assert.deepEqual(locate(site, 1, 1), { shop: 'main', sector: 'coffee' })
})

test('every problem is listed, not just the first', () => {
  const doc = good()
  set(doc, '/features/0/properties/kind', 'door')
  set(doc, '/features/3/properties/z', 'high')
  set(doc, '/timezone', 'Nowhere/Land')
  assert.throws(
    () => parseSite(doc),
    (err: unknown) => err instanceof SiteError && err.problems.length >= 3
  )
})

test('a missing or non-JSON file is a SiteError, not a crash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'site-'))
  writeFileSync(join(dir, 'bad.json'), '{ nope')
  assert.throws(() => loadSiteFile(join(dir, 'bad.json')), /not JSON/)
  assert.throws(() => loadSiteFile(join(dir, 'missing.json')), /cannot read: ENOENT/)
})

test('a site file saved with a byte-order mark (some Windows editors) loads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'site-'))
  writeFileSync(join(dir, 'bom.json'), '\uFEFF' + readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8'))
  assert.equal(loadSiteFile(join(dir, 'bom.json')).storeId, 'boutique-1')
})

test('a command given an invalid site exits non-zero and lists the problems, without a stack trace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'site-'))
  const doc = good()
  set(doc, '/features/2/properties/shop', 'annex')
  set(doc, '/timezone', 'Mars/Olympus')
  writeFileSync(join(dir, 'bad.json'), JSON.stringify(doc))
  writeFileSync(join(dir, 'empty.jsonl'), '')
  const r = await runBin('instore-eval', ['--site', join(dir, 'bad.json'), '--trace', join(dir, 'empty.jsonl'), '--recording', join(dir, 'empty.jsonl')])
  assert.equal(r.code, 1)
  assert.match(r.stdout, /names unknown shop 'annex'/)
  assert.match(r.stdout, /unknown time zone/)
  assert.doesNotMatch(r.stdout + r.stderr, /at .*\.ts:\d+/)
})

test('unknown options are refused with exit code 2', async () => {
  const r = await runBin('instore-sim', ['--nope'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /Unknown option '--nope'/)
})
