import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { Footfall } from '../../gateway/presence/footfall.ts'
import { SubjectHasher, isRandomizedMac } from '../../gateway/ingest/subjects.ts'
import { isReading, type TraceLine } from '../../shared/trace.ts'
import { makeTrace } from '../helpers/sim.ts'

test('Wi-Fi footfall counts phones, not their rotating addresses', async () => {
  const { trace, sim } = await makeTrace('boutique', { durationS: 3600, seed: 11 })
  const hasher = new SubjectHasher('s')
  const f = new Footfall(ts => new Date(ts).toISOString().slice(0, 10))
  let last = 0
  for (const l of readFileSync(trace, 'utf8')
    .trim()
    .split('\n')
    .map(s => JSON.parse(s) as TraceLine)) {
    if (!isReading(l) || l.t !== 'wifi' || !l.mac) continue
    f.observeWifi(hasher.hash(l.mac), isRandomizedMac(l.mac), l.seq, l.sensor, l.rssi, l.ts)
    last = l.ts
  }
  const c = f.counts(last)
  const truth = Object.values(sim.truth.wifiPhones)[0]
  const err = Math.abs(c.wifiDevices - truth) / truth
  assert.ok(c.wifiAddresses > 1.5 * truth, `addresses ${c.wifiAddresses} vs phones ${truth}: the naive count would be far off`)
  assert.ok(err < 0.25, `estimate ${c.wifiDevices} vs ${truth} phones (${(100 * err).toFixed(0)}% off; ${c.wifiAddresses} addresses)`)
})

test('footfall resets at the day boundary', () => {
  const f = new Footfall(ts => new Date(ts).toISOString().slice(0, 10))
  f.observeBle('app:1', Date.UTC(2026, 0, 1, 23))
  f.observeWifi('h:1', false, 1, 'r', -60, Date.UTC(2026, 0, 1, 23))
  assert.equal(f.counts(Date.UTC(2026, 0, 1, 23, 30)).bleDevices, 1)
  const next = f.counts(Date.UTC(2026, 0, 2, 1))
  assert.deepEqual(next, { date: '2026-01-02', wifiDevices: 0, wifiAddresses: 0, bleDevices: 0 })
})
