import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseSite } from '../../shared/site.ts'
import { ZoneParamsSchema } from '../../shared/site-schema.ts'
import { stepZones, newZoneState, defaultZoneParams, type ZoneEvent, type Evidence, type EvidenceSource } from '../../gateway/presence/zones.ts'
import type { Site } from '../../shared/site.ts'
import { ulid, visitUlid } from '../../gateway/ingest/ids.ts'
import type { WalkGaps } from '../../gateway/estimation/street-walk.ts'
import { rect } from '../helpers/geo.ts'

const site = parseSite({
  type: 'FeatureCollection',
  storeId: 's',
  features: [
    { type: 'Feature', properties: { kind: 'shop', id: 'shop' }, geometry: rect(0, 0, 30, 20) },
    { type: 'Feature', properties: { kind: 'sector', id: 'a', shop: 'shop' }, geometry: rect(0, 0, 10, 10) },
    { type: 'Feature', properties: { kind: 'sector', id: 'b', shop: 'shop' }, geometry: rect(10, 0, 20, 10) },
    { type: 'Feature', properties: { kind: 'sensor', id: 'r' }, geometry: { type: 'Point', coordinates: [5, 5] } }
  ]
})
const p = { ...defaultZoneParams, shopEnterS: 5, shopExitS: 20, sectorEnterS: 5, sectorExitS: 10, dwellThresholdsS: [30, 60] }

/** A source for evidence without radio: never asked. */
const noRadio: EvidenceSource = { zoneCosts: () => assert.fail('asked for zone costs'), walkGaps: () => assert.fail('asked for a walk test') }

/** One device's zone state stepped as presence.ts does: each step's state goes into the next. */
function device(s: Site = site, params = p, source = noRadio): (e: Evidence | null, t: number, newVisitId: (shop: string, at: number) => string) => ZoneEvent[] {
  let state = newZoneState()
  return (e, t, newVisitId) => {
    const step = stepZones(state, e, t, { site: s, params, newVisitId, source })
    state = step.state
    return step.events
  }
}

/** Runs one position per second (null = not heard) and returns the events as "type@s[:zone]". */
function run(path: Array<Evidence | null>): string[] {
  const step = device()
  const out: ZoneEvent[] = []
  let n = 0
  path.forEach((e, i) => {
    out.push(...step(e, i * 1000, () => 'v' + n++))
  })
  return out.map(e => `${e.type}@${e.ts / 1000}${e.sector ? ':' + e.sector : ''}`)
}
const at = (x: number, y: number, accuracyM = 1): Evidence => ({ x, y, accuracyM })
const repeat = <T>(n: number, v: T): T[] => Array.from({ length: n }, () => v)

const cases: Array<[string, Array<Evidence | null>, string[]]> = [
  ['a short glimpse inside is not an entry', [...repeat(3, at(25, 15)), ...repeat(30, at(25, 30))], []],
  ['entry after evidence over time, stamped when it began', [...repeat(5, at(40, 15)), ...repeat(10, at(25, 15))], ['shop.enter@5']],
  ['noise at the boundary does not enter (margin grows with inaccuracy)', Array.from({ length: 60 }, (_, i) => at(29.8 + (i % 2 ? 0.5 : -0.5), 15, 3)), []],
  ['exit after the timeout, stamped with the last evidence', [...repeat(10, at(25, 15)), ...repeat(30, at(40, 15))], ['shop.enter@0', 'shop.exit@9', 'visit.summary@9']],
  ['a device that goes quiet is exited at its last evidence', [...repeat(10, at(25, 15)), ...repeat(30, null)], ['shop.enter@0', 'shop.exit@9', 'visit.summary@9']],
  [
    'a short gap in evidence does not split the visit',
    [...repeat(10, at(25, 15)), ...repeat(8, null), ...repeat(10, at(25, 15)), ...repeat(25, null)],
    ['shop.enter@0', 'shop.exit@27', 'visit.summary@27']
  ],
  [
    'a sector stay with dwell thresholds',
    [...repeat(70, at(5, 5)), ...repeat(25, null)],
    ['shop.enter@0', 'sector.enter@0:a', 'sector.dwell@30:a', 'sector.dwell@60:a', 'sector.exit@69:a', 'shop.exit@69', 'visit.summary@69']
  ],
  [
    'moving to the next sector ends the first stay where it was last seen',
    [...repeat(15, at(5, 5)), ...repeat(15, at(15, 5)), ...repeat(25, null)],
    ['shop.enter@0', 'sector.enter@0:a', 'sector.exit@14:a', 'sector.enter@15:b', 'sector.exit@29:b', 'shop.exit@29', 'visit.summary@29']
  ],
  [
    'wobbling across a sector boundary does not flap',
    [...repeat(10, at(5, 5)), ...Array.from({ length: 20 }, (_, i) => at(i % 2 ? 10.4 : 9.6, 5, 1.5)), ...repeat(25, null)],
    ['shop.enter@0', 'sector.enter@0:a', 'sector.exit@29:a', 'shop.exit@29', 'visit.summary@29']
  ],
  [
    'from the aisle, standing just inside a sector enters it',
    [...repeat(10, at(25, 15)), ...repeat(10, at(5, 9.7, 2)), ...repeat(25, null)],
    ['shop.enter@0', 'sector.enter@10:a', 'sector.exit@19:a', 'shop.exit@19', 'visit.summary@19']
  ],
  [
    'walking away along the street just outside ends the visit where it left the outline',
    [...repeat(10, at(25, 15)), ...Array.from({ length: 40 }, (_, i) => at(29 + 0.5 * i, 20.5 + 0.1 * i, 2))],
    ['shop.enter@0', 'shop.exit@9', 'visit.summary@9']
  ],
  // The sensor stands 5 m in: fixes on the front wall, inside but within the margin, keep a visit
  // open and do not move its end; that is the last confident fix (2 m in) plus a walk of 2 m.
  [
    'a leaver whose fixes linger on the front wall ends the visit a walk from its last confident fix',
    [...repeat(10, at(25, 18)), ...repeat(8, at(25, 19.7, 2)), ...repeat(30, at(25, 25))],
    ['shop.enter@0', 'shop.exit@11', 'visit.summary@11']
  ],
  [
    'a shopper who stands at the front wall loses at most 10 s of the visit',
    [...repeat(10, at(25, 18)), ...repeat(40, at(25, 19.7, 2)), ...repeat(30, at(25, 25))],
    ['shop.enter@0', 'shop.exit@39', 'visit.summary@39']
  ],
  [
    "a track that jumps back in faster than anyone walks (the radio's mirror place) does not move the visit's end",
    [...repeat(10, at(25, 15)), ...repeat(3, at(25, 19.7, 2)), ...repeat(5, at(25, 12)), ...repeat(30, at(25, 25))],
    ['shop.enter@0', 'shop.exit@14', 'visit.summary@14']
  ],
  [
    'straying just across into the neighbour for a while does not end the stay',
    [...repeat(10, at(5, 5)), ...repeat(10, at(10.3, 5, 2)), ...repeat(10, at(5, 5)), ...repeat(25, null)],
    ['shop.enter@0', 'sector.enter@0:a', 'sector.exit@29:a', 'shop.exit@29', 'visit.summary@29']
  ]
]

for (const [name, path, expected] of cases) {
  test(`zones: ${name}`, () => assert.deepEqual(run(path), expected))
}

test('visit.summary lists the dwell per sector', () => {
  const step = device()
  const out: ZoneEvent[] = []
  const path = [...repeat(15, at(5, 5)), ...repeat(15, at(15, 5)), ...repeat(25, null)]
  path.forEach((e, i) => {
    out.push(...step(e, i * 1000, () => 'v1'))
  })
  const summary = out.find(e => e.type === 'visit.summary')
  assert.deepEqual(summary?.sectors, [
    { id: 'a', dwellMs: 14000 },
    { id: 'b', dwellMs: 14000 }
  ])
  assert.equal(summary?.durationMs, 29000)
  assert.ok(out.every(e => e.visitId === 'v1'))
})

test('evidence from another floor is outside every zone of this one; moving to another shop ends the visit where its evidence did and enters at once', () => {
  const two = parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'ground' }, geometry: rect(0, 0, 30, 20) },
      { type: 'Feature', properties: { kind: 'shop', id: 'upper', floor: 1 }, geometry: rect(0, 0, 30, 20) },
      { type: 'Feature', properties: { kind: 'sensor', id: 'r' }, geometry: { type: 'Point', coordinates: [5, 5] } }
    ]
  })
  const step = device(two)
  const out: ZoneEvent[] = []
  for (let i = 0; i < 20; i++) out.push(...step({ x: 15, y: 10, accuracyM: 1, floor: 1 }, i * 1000, () => 'v' + i))
  for (let i = 20; i < 60; i++) out.push(...step({ x: 15, y: 10, accuracyM: 1 }, i * 1000, () => 'v' + i))
  // Without the switch, the ground floor's entry would wait for the upper visit's 20 s timeout (from 40 s).
  assert.deepEqual(
    out.map(e => `${e.type}@${e.ts / 1000}:${e.shop}`),
    ['shop.enter@0:upper', 'shop.exit@19:upper', 'visit.summary@19:upper', 'shop.enter@20:ground']
  )
})

test('a visit id follows from the visit: same store, subject, shop and start, same id; sortable by start', () => {
  const at = Date.UTC(2026, 10, 23, 10)
  const id = visitUlid(at, 's1', 'app:1', 'main')
  assert.equal(visitUlid(at, 's1', 'app:1', 'main'), id)
  assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/)
  for (const other of [visitUlid(at, 's2', 'app:1', 'main'), visitUlid(at, 's1', 'app:2', 'main'), visitUlid(at, 's1', 'app:1', 'cafe'), visitUlid(at + 1, 's1', 'app:1', 'main')])
    assert.notEqual(other, id)
  assert.ok(visitUlid(at - 1000, 's1', 'app:9', 'main') < id, 'earlier visits sort first')
  assert.equal(id.slice(0, 10), ulid(at).slice(0, 10), 'the time part is the start')
})

// A visit waits for the street-walk test (street-walk.ts), here stubbed: each fix makes inside a
// little likelier than outside (odds 36 after the entry's six fixes), and the walk test answers
// `gaps` [line, stop] (or, given a list, the next of it: the tests come every 5 s from 20 s on).
type Gaps = [line: number, stop: number]
/** The radio behind a stubbed fix: what the stub source answers does not depend on it. */
const radio = (e: Evidence, from = 'test'): Evidence['radio'] => ({ from, fix: { obs: [], silent: [], x: e.x, y: e.y }, offsetPrior: { mean: 0, sd: 4 }, overlap: 1, walk: [] })
function held(gaps: Gaps | Gaps[], path: Array<Evidence | null>, perFix = 1.2, s = site): string[] {
  const answers = typeof gaps[0] === 'number' ? null : [...(gaps as Gaps[])]
  const answer = (): WalkGaps => {
    const [line, stop] = answers === null ? (gaps as Gaps) : (answers.shift() ?? [Infinity, Infinity])
    return { line, stop }
  }
  const step = device(s, p, { zoneCosts: () => ({ inside: repeat(13, 0), outside: repeat(13, perFix) }), walkGaps: answer })
  const out: string[] = []
  path.forEach((e, i) => {
    for (const z of step(e && { ...e, radio: radio(e) }, i * 1000, (shop, at) => `${shop}@${at}`)) out.push(`${z.type}@${z.ts / 1000}:${z.sector ?? z.shop} (at ${i})`)
  })
  return out
}
const shopper: Gaps = [50, 50]
const passerBy: Gaps = [0.5, 0.5]
const unsure: Gaps = [10, 10]

test("zones: a visit is announced once the street-walk test finds a shopper's walk, stamped when it began, its stays with it", () => {
  assert.deepEqual(held(shopper, [...repeat(40, at(5, 5)), ...repeat(25, null)]), [
    'shop.enter@0:shop (at 20)',
    'sector.enter@0:a (at 20)',
    'sector.dwell@30:a (at 30)',
    'sector.exit@39:a (at 50)',
    'shop.exit@39:shop (at 60)',
    'visit.summary@39:shop (at 60)'
  ])
})

test('zones: a visit the street-walk test takes for a passer-by twice in a row never goes out, nor do its stays', () => {
  assert.deepEqual(held(passerBy, [...repeat(40, at(5, 5)), ...repeat(25, null)]), [])
  // Once is not enough: a shopper's first test often still sees mostly the walk in from the street.
  assert.deepEqual(held([passerBy, unsure, shopper], [...repeat(40, at(5, 5)), ...repeat(25, null)]).slice(0, 1), ['shop.enter@0:shop (at 30)'])
  // Gone quiet before the test was due: the test runs on its last fixes when the visit times out, and once decides.
  assert.deepEqual(held(passerBy, [...repeat(12, at(5, 5)), ...repeat(40, null)]), [])
  assert.deepEqual(held(unsure, [...repeat(12, at(5, 5)), ...repeat(40, null)]), [
    'shop.enter@0:shop (at 32)',
    'sector.enter@0:a (at 32)',
    'sector.exit@11:a (at 32)',
    'shop.exit@11:shop (at 32)',
    'visit.summary@11:shop (at 32)'
  ])
})

test('zones: a visit the street-walk test cannot tell is asked every 5 s until shopHoldMaxS, then announced unless it looks like a passer-by', () => {
  const path = [...repeat(60, at(5, 5)), ...repeat(25, null)]
  assert.deepEqual(held(repeat(7, unsure), path).slice(0, 1), ['shop.enter@0:shop (at 50)'])
  assert.deepEqual(held([...repeat(6, unsure), passerBy], [...repeat(51, at(5, 5)), ...repeat(25, null)]), [])
})

test('zones: a visit held back when the device moves on to another shop gets its test then', () => {
  const pair = parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'left' }, geometry: rect(0, 0, 30, 20) },
      { type: 'Feature', properties: { kind: 'shop', id: 'right' }, geometry: rect(30, 0, 60, 20) },
      { type: 'Feature', properties: { kind: 'sensor', id: 'r' }, geometry: { type: 'Point', coordinates: [30, 10] } }
    ]
  })
  const path = [...repeat(8, at(15, 10)), ...repeat(30, at(45, 10)), ...repeat(25, null)]
  assert.deepEqual(held(passerBy, path, 1.2, pair), [])
  assert.deepEqual(held(shopper, path, 1.2, pair).slice(0, 4), [
    'shop.enter@0:left (at 13)',
    'shop.exit@7:left (at 13)',
    'visit.summary@7:left (at 13)',
    'shop.enter@8:right (at 28)'
  ])
})

test('zones: even a visit the radio is sure of is held; with the hold off, a visit is announced when confirmed', () => {
  assert.deepEqual(held(passerBy, [...repeat(30, at(5, 5)), ...repeat(25, null)], 3), [])
  assert.deepEqual(held(shopper, [...repeat(30, at(5, 5)), ...repeat(25, null)], 3).slice(0, 1), ['shop.enter@0:shop (at 20)'])
  const step = device(site, { ...p, shopHoldS: 0 }, { zoneCosts: () => ({ inside: repeat(13, 0), outside: repeat(13, 1.2) }), walkGaps: () => ({ line: 0.5, stop: 0.5 }) })
  const e: Evidence = { ...at(5, 5), radio: radio(at(5, 5)) }
  const first = Array.from({ length: 8 }, (_, i) => step(e, i * 1000, () => 'v')).findIndex(evs => evs.some(z => z.type === 'shop.enter'))
  assert.equal(first, 5)
})

// Plain data between stages (issue 30): a step is a function of (state, evidence) that returns the
// new state and leaves the one given as it was; the street-walk test of a held visit runs on the
// walk evidence that state carries, not on anything kept beside it.
test('zones: a step leaves the state it is given unchanged, so stepping the same state again gives the same result', () => {
  const source: EvidenceSource = { zoneCosts: () => ({ inside: repeat(13, 0), outside: repeat(13, 1.2) }), walkGaps: () => ({ line: 10, stop: 10 }) }
  const ctx = { site, params: p, newVisitId: (shop: string, at: number) => `${shop}@${at}`, source }
  let state = newZoneState()
  const path = [...repeat(40, at(5, 5)), ...repeat(25, null)]
  path.forEach((e, i) => {
    const before = structuredClone(state)
    const step = stepZones(state, e && { ...e, radio: radio(e) }, i * 1000, ctx)
    assert.deepEqual(state, before, `step ${i} changed the state it was given`)
    assert.deepEqual(stepZones(state, e && { ...e, radio: radio(e) }, i * 1000, ctx), step, `step ${i} again`)
    state = step.state
  })
})

test("zones: a held visit is tested on the walk evidence of its state, asked once per test, within the tick's budget", () => {
  const asked: number[] = []
  // Each fix's walk names the second it was kept at; the source says passer-by.
  const source: EvidenceSource = {
    zoneCosts: () => ({ inside: repeat(13, 0), outside: repeat(13, 1.2) }),
    walkGaps: w => {
      asked.push(w.fixes[0].t)
      return { line: 0.5, stop: 0.5 }
    }
  }
  const fixAt = (i: number): Evidence => ({
    ...at(5, 5),
    radio: { ...(radio(at(5, 5)) as NonNullable<Evidence['radio']>), walk: [{ t: i, x: 5, y: 5, heard: 0, data: new Float32Array(0), at: 0, end: 0, listening: null }] }
  })
  const ctx = { site, params: p, newVisitId: () => 'v', source }
  let state = newZoneState()
  const events: ZoneEvent[] = []
  // Heard for 12 s, then quiet: the visit is confirmed at 5 s and held; it times out at 32 s and
  // is tested then, on the last fix's walk. With no test left in the tick, it waits for one.
  for (let i = 0; i < 40; i++) {
    const step = stepZones(state, i < 12 ? fixAt(i) : null, i * 1000, { ...ctx, left: { radio: Infinity, walk: i < 35 ? 0 : 1 } })
    state = step.state
    events.push(...step.events)
    if (i === 34) assert.equal(state.track.shop?.pending, true, 'waits for a test')
  }
  assert.deepEqual(asked, [11])
  assert.deepEqual(events, [], 'two passer-by walks in a row: dropped; one at its end: dropped')
  assert.equal(state.track.shop, null)
})

test('zones: after a restart (saved state, no walk evidence), a held visit that ends is announced without a test', () => {
  const source: EvidenceSource = { zoneCosts: () => ({ inside: repeat(13, 0), outside: repeat(13, 1.2) }), walkGaps: () => assert.fail('no walk evidence since the restart') }
  const ctx = { site, params: p, newVisitId: () => 'v', source }
  let state = newZoneState()
  for (let i = 0; i < 12; i++) state = stepZones(state, { ...at(5, 5), radio: radio(at(5, 5)) }, i * 1000, ctx).state
  assert.equal(state.track.shop?.pending, true)
  assert.notEqual(state.walk, null)
  // What a restart keeps: the saved track, through JSON.
  state = { track: JSON.parse(JSON.stringify(state.track)), walk: null }
  const events: string[] = []
  for (let i = 12; i < 40; i++) {
    const step = stepZones(state, null, i * 1000, ctx)
    state = step.state
    events.push(...step.events.map(e => e.type))
  }
  assert.deepEqual(events, ['shop.enter', 'sector.enter', 'sector.exit', 'shop.exit', 'visit.summary'])
})

// Floors are reached through the building (`floorChangeS`). Here the radio takes every ground-floor
// fix for one outside (a walk along the wall to the stairs, say) and is sure of every upstairs one.
test('zones: a change of floors proves the shop the device walked through, and a device come down from a visit needs no radio test', () => {
  const two = parseSite({
    type: 'FeatureCollection',
    storeId: 's',
    features: [
      { type: 'Feature', properties: { kind: 'shop', id: 'ground' }, geometry: rect(0, 0, 30, 20) },
      { type: 'Feature', properties: { kind: 'shop', id: 'upper', floor: 1 }, geometry: rect(0, 0, 30, 20) },
      { type: 'Feature', properties: { kind: 'sensor', id: 'r' }, geometry: { type: 'Point', coordinates: [5, 5] } }
    ]
  })
  const fix = (floor: number): Evidence => ({ x: 15, y: 10, accuracyM: 1, floor, radio: radio({ x: 15, y: 10, accuracyM: 1 }, String(floor)) })
  // The stub source answers by the floor the fix was made on (its `from`).
  const source: EvidenceSource = {
    zoneCosts: r => (r.from === '0' ? { inside: repeat(13, 1.2), outside: repeat(13, 0) } : { inside: repeat(13, 0), outside: repeat(13, 3) }),
    walkGaps: () => ({ line: 50, stop: 50 })
  }
  const walk = (path: Array<Evidence | null>, params = p): string[] => {
    const step = device(two, params, source)
    const out: string[] = []
    path.forEach((e, i) => {
      for (const z of step(e, i * 1000, (shop, at) => `${shop}@${at / 1000}`)) out.push(`${z.type}@${z.ts / 1000}:${z.shop} (at ${i})`)
    })
    return out
  }
  // Up: 15 s on the ground floor the radio does not believe, 8 s on the stairs unheard, then upstairs.
  // The visit upstairs is held for the street-walk test (20 s), and what it proves with it.
  const up = [...repeat(15, fix(0)), ...repeat(8, null), ...repeat(25, fix(1)), ...repeat(25, null)]
  assert.deepEqual(walk(up).slice(0, 4), ['shop.enter@0:ground (at 43)', 'shop.exit@14:ground (at 43)', 'visit.summary@14:ground (at 43)', 'shop.enter@23:upper (at 43)'])
  // Down from a visit upstairs: the ground floor is entered without the radio's word, and at once.
  const down = [...repeat(20, fix(1)), ...repeat(8, null), ...repeat(15, fix(0)), ...repeat(25, null)]
  assert.deepEqual(
    walk(down).filter(s => s.includes('ground')),
    ['shop.enter@28:ground (at 33)', 'shop.exit@42:ground (at 63)', 'visit.summary@42:ground (at 63)']
  )
  // Off, or with the stairs taking longer than floorChangeS: the ground floor is no visit either way.
  for (const params of [
    { ...p, floorChangeS: 0 },
    { ...p, floorChangeS: 5 }
  ]) {
    assert.deepEqual(
      walk(up, params).filter(s => s.includes('ground')),
      []
    )
    assert.deepEqual(
      walk(down, params).filter(s => s.includes('ground')),
      []
    )
  }
})

test('zone defaults come from the site schema: every member has one, and the gateway uses exactly those', () => {
  for (const [k, member] of Object.entries(ZoneParamsSchema.properties)) {
    assert.notEqual((member as { default?: unknown }).default, undefined, `zones.${k} has no default in the schema`)
    assert.deepEqual(defaultZoneParams[k as keyof typeof defaultZoneParams], (member as { default?: unknown }).default, k)
  }
  assert.deepEqual(Object.keys(defaultZoneParams).sort(), Object.keys(ZoneParamsSchema.properties).sort())
})
