import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewayStore } from '../../gateway/io/store.ts'
import { CampaignEngine, inSchedule } from '../../gateway/campaigns/campaigns.ts'
import { localTime } from '../../shared/local-time.ts'
import type { Campaign } from '../../shared/campaigns.ts'
import type { InstoreEvent } from '../../shared/events.ts'

// 2026-11-02 is a Monday; 08:30 UTC is 09:30 in Berlin.
const T = Date.UTC(2026, 10, 2, 8, 30)
const coffee: Campaign = {
  id: 'coffee-morning',
  stores: ['s1'],
  when: { event: 'sector.dwell', sector: 'coffee', minDwellS: 30 },
  audience: { segments: ['returning', 'regular'] },
  schedule: { from: '2026-11-01', to: '2026-12-31', hours: [['08:00', '11:00']] },
  cap: { cooldownS: 3600, perVisit: 1 },
  content: { title: 'Your usual?' }
}
let n = 0
const dwell = (over: Partial<InstoreEvent> = {}): InstoreEvent => ({
  id: 'e' + n++,
  type: 'sector.dwell',
  storeId: 's1',
  subject: 'app:1',
  visitId: 'v1',
  seq: n,
  ts: T,
  shop: 'main',
  sector: 'coffee',
  dwellMs: 30000,
  thresholdMs: 30000,
  ...over
})

function engine(campaigns: Campaign[] = [coffee]) {
  const store = new GatewayStore(mkdtempSync(join(tmpdir(), 'camp-')))
  const e = new CampaignEngine('s1', 'Europe/Berlin', store)
  e.setCampaigns(campaigns)
  return e
}

test("local time follows the store's time zone", () => {
  assert.deepEqual(localTime(T, 'Europe/Berlin'), { date: '2026-11-02', minutes: 9 * 60 + 30, weekday: 'mon' })
  assert.equal(inSchedule(coffee, T, 'Europe/Berlin'), true)
  assert.equal(inSchedule(coffee, T, 'America/New_York'), false, '03:30 in New York')
})

test('fires at the dwell threshold for the right segment, once per visit', () => {
  const e = engine()
  assert.equal(e.evaluate(dwell(), 'returning').length, 1)
  assert.equal(e.evaluate(dwell({ ts: T + 120_000 }), 'returning').length, 0)
  assert.equal(e.suppressed.cap, 1)
})

test('another dwell threshold, sector or event type does not match', () => {
  const e = engine()
  assert.equal(e.evaluate(dwell({ thresholdMs: 60000, dwellMs: 60000 }), 'regular').length, 0)
  assert.equal(e.evaluate(dwell({ sector: 'bakery' }), 'regular').length, 0)
  assert.equal(e.evaluate(dwell({ type: 'sector.enter' }), 'regular').length, 0)
  assert.deepEqual(e.suppressed, { schedule: 0, audience: 0, consent: 0, cap: 0 })
})

test('each suppression is counted with its reason', () => {
  const e = engine()
  assert.equal(e.evaluate(dwell(), 'first').length, 0)
  assert.equal(e.evaluate(dwell({ ts: Date.UTC(2026, 10, 2, 14, 0) }), 'regular').length, 0)
  assert.equal(e.evaluate(dwell({ ts: Date.UTC(2027, 0, 5, 8, 30) }), 'regular').length, 0)
  assert.equal(e.evaluate(dwell({ subject: 'h:0123456789abcdef' }), 'regular').length, 0)
  assert.deepEqual(e.suppressed, { schedule: 2, audience: 1, consent: 1, cap: 0 })
})

test('cooldown spans visits; after it, a new visit fires again', () => {
  const e = engine()
  assert.equal(e.evaluate(dwell(), 'regular').length, 1)
  assert.equal(e.evaluate(dwell({ visitId: 'v2', ts: T + 30 * 60_000 }), 'regular').length, 0, 'within the hour')
  assert.equal(e.evaluate(dwell({ visitId: 'v3', ts: T + 61 * 60_000 }), 'regular').length, 1, 'after the hour')
})

test('consent from the central registry overrides the app-id rule', () => {
  const e = engine()
  e.setConsent(s => (s === 'app:1' ? false : null))
  assert.equal(e.evaluate(dwell(), 'regular').length, 0)
  assert.equal(e.suppressed.consent, 1)
})

test('campaigns add their dwell thresholds, and inactive or other-store campaigns never fire', () => {
  const e = engine([coffee, { ...coffee, id: 'off', active: false }, { ...coffee, id: 'elsewhere', stores: ['s2'] }])
  assert.deepEqual(e.dwellThresholdsS(), [30, 30, 30])
  assert.deepEqual(
    e.evaluate(dwell(), 'regular').map(d => d.campaign.id),
    ['coffee-morning']
  )
})
