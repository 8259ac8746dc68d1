// s11 tester G, defect 1: a clone of a site beacon (its id is broadcast in the clear) heard beside
// one sensor must not become that sensor's bias; a sensor truly off must still be found.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadSiteFile } from '../../shared/site.ts'
import { sensorModels, expectedRssi } from '../../gateway/estimation/radio-model.ts'
import { SelfCalibrator, implausibleBeaconsProblem } from '../../gateway/estimation/self-calibration.ts'

const site = loadSiteFile('sites/boutique.site.json')
const beacon = [...site.beacons.values()][0]
const models = sensorModels(site)

/** Every sensor hears the beacon `seconds` long, 4 times a second, as the model says plus `extra(sensor)` dB. */
function hear(cal: SelfCalibrator, seconds: number, extra: (sensor: string, k: number) => number[], from = 0): void {
  for (let k = 0; k < seconds * 4; k++)
    for (const s of site.sensors.values()) {
      const d = Math.hypot(beacon.x - s.x, beacon.y - s.y, beacon.z - s.z)
      const model = expectedRssi(models.get(s.id) as never, d) - site.radio.rssiAt1m + beacon.rssiAt1m
      for (const e of extra(s.id, k)) cal.observeKnown(s.id, d, Math.round(model + e + ((k * 7 + s.x) % 5) - 2), beacon.rssiAt1m, site.radio.rssiAt1m, beacon.id, from + k * 250)
    }
}

test('a clone 40 dB louder than the beacon beside one sensor is refused and counted; the correction stays put and /healthz names it', () => {
  const cal = new SelfCalibrator(models)
  hear(cal, 30, () => [0])
  // The clone and the real beacon, under one id, heard by b1 alike (a stranger's ESP32 right beside it).
  const b1 = site.sensors.get('b1')
  assert.ok(b1)
  const d = Math.hypot(beacon.x - b1.x, beacon.y - b1.y, beacon.z - b1.z)
  const model = expectedRssi(models.get('b1') as never, d) - site.radio.rssiAt1m + beacon.rssiAt1m
  hear(cal, 90, s => (s === 'b1' ? [0, -40 - model] : [0]), 30_000)
  hear(cal, 20, () => [0], 120_000)
  assert.ok(Math.abs(cal.correction('b1')) < 1, `b1 ${cal.correction('b1')} dB`)
  assert.equal(cal.refusedKnown, 360)
  const problem = implausibleBeaconsProblem(cal.implausible.values(), 0)
  assert.match(problem ?? '', /clone/)
  assert.match(problem ?? '', /by b1 \+4\d dB \(360 readings\)/)
  assert.equal(implausibleBeaconsProblem(cal.implausible.values(), 200_000), null, 'an old refusal is no longer told')
})

test('a sensor truly 10 dB hot, heard by the beacon, is still found (issue 31 self-calibration)', () => {
  const cal = new SelfCalibrator(models)
  hear(cal, 600, s => [s === 'b1' ? 10 : 0])
  assert.equal(cal.refusedKnown, 0)
  assert.ok(cal.correction('b1') > 8, `b1 ${cal.correction('b1')} dB`)
})
