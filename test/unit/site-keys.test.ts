// Site-file mistakes are each named where they are, in words (repro: misspelled keys were ignored
// silently; a pattern was shown as a regex; radios said "Expected union value"; a bad shop outline
// also blamed each of its sectors for naming an unknown shop).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { siteProblems } from '../../shared/site.ts'
import { ROOT } from '../helpers/run.ts'

type Doc = Record<string, unknown> & { features: Array<{ properties: Record<string, unknown>; geometry: { coordinates: unknown } }> }
const base = (): Doc => JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as Doc

const cases: Array<{ name: string; edit: (d: Doc) => void; problems: Array<[string, RegExp]> }> = [
  { name: 'zones typo', edit: d => void (d.zones = { shopExitSecs: 3 }), problems: [['/zones/shopExitSecs', /^unknown key 'shopExitSecs' \(did you mean 'shopExitS'\?\)$/]] },
  {
    name: 'radio typo',
    edit: d => void ((d.radio as Record<string, unknown>).pathlossExponent = 3),
    problems: [['/radio/pathlossExponent', /unknown key .*did you mean 'pathLossExponent'/]]
  },
  {
    name: 'sensor typos',
    edit: d => Object.assign(d.features[6].properties, { offsetdB: 5, Z: 1 }),
    problems: [
      ['/features/6/properties/offsetdB', /unknown key .*did you mean 'offsetDb'/],
      ['/features/6/properties/Z', /unknown key 'Z' \(did you mean 'z'\?\)/]
    ]
  },
  { name: 'people typo', edit: d => void (d.people = { maxPeoplePerSqm: 1 }), problems: [['/people/maxPeoplePerSqm', /unknown key .*did you mean 'maxPeoplePerM2'/]] },
  { name: 'georef typo', edit: d => void (d.georef = { origin: [2.35, 48.85], bearing: 10 }), problems: [['/georef/bearing', /unknown key .*did you mean 'bearingDeg'/]] },
  { name: 'storeId in words', edit: d => void (d.storeId = 'bakery 7'), problems: [['/storeId', /^letters, digits and \. _ - only \(no spaces\).*got "bakery 7"$/]] },
  {
    name: 'radios named',
    edit: d => void (d.features[6].properties.radios = ['bluetooth']),
    problems: [['/features/6/properties/radios/0', /^must be one of "ble", "wifi", got "bluetooth"$/]]
  },
  {
    name: 'bad shop outline: the root cause only',
    edit: d =>
      void (d.features[0].geometry.coordinates = [
        [
          [0, 0],
          [12, 8],
          [12, 0],
          [0, 8],
          [0, 0]
        ]
      ]),
    problems: [['/features/0/geometry', /./]]
  },
  {
    // Repro: a site saved by geojson.io carried its styling keys and the gateway refused to start.
    name: 'GeoJSON editor styling keys on every feature',
    edit: d => {
      for (const f of d.features) {
        Object.assign(f.properties, { stroke: '#555555', 'stroke-width': 2, 'stroke-opacity': 1, fill: '#00aa22', 'fill-opacity': 0.5 })
        Object.assign(f.properties, { 'marker-color': '#7e7e7e', 'marker-size': 'medium', 'marker-symbol': 'shop', title: 'T', description: 'D' })
      }
    },
    problems: []
  },
  {
    name: 'styling keys beside a typo: the typo still refused',
    edit: d => Object.assign(d.features[6].properties, { stroke: '#555555', offsetdB: 5, 'stroke-widht': 2 }),
    problems: [
      ['/features/6/properties/offsetdB', /unknown key .*did you mean 'offsetDb'/],
      ['/features/6/properties/stroke-widht', /unknown key .*did you mean 'stroke-width'/]
    ]
  }
]

for (const c of cases) {
  test(`site file: ${c.name}`, () => {
    const d = base()
    c.edit(d)
    const got = siteProblems(d)
    assert.equal(got.length, c.problems.length, JSON.stringify(got))
    for (const [path, reason] of c.problems) {
      const p = got.find(x => x.path === path)
      assert.ok(p, `${path} in ${JSON.stringify(got)}`)
      assert.match(p.reason, reason)
    }
  })
}

test('every site file in sites/ still loads with unknown keys refused', () => {
  for (const name of readdirSync(join(ROOT, 'sites')).filter(n => n.endsWith('.site.json'))) {
    assert.deepEqual(siteProblems(JSON.parse(readFileSync(join(ROOT, 'sites', name), 'utf8'))), [], name)
  }
})
