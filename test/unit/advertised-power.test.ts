import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AdvertisedPower } from '../../gateway/estimation/advertised-power.ts'
import { Rng } from '../../shared/rng.ts'

// Phones with real offsets N(0, 3²) settle on 0.5 of it (the solver's prior shrinks it) plus
// 1 dB of noise, and advertise -59 plus their offset plus `txErr` of error.
function learn(phones: number, txErr: number, claim?: (real: number, r: Rng) => number): AdvertisedPower {
  const p = new AdvertisedPower(-59, 4)
  const r = new Rng(7)
  for (let i = 0; i < phones; i++) {
    const real = r.normal(0, 3)
    p.observe(claim ? claim(real, r) : Math.round(-59 + real + r.normal(0, txErr)), 0.5 * real + r.normal(0, 1), 0)
  }
  return p
}

test('a measured power that goes with the offsets phones settle on narrows the offset prior and moves it', () => {
  const p = learn(400, 1)
  const loud = p.prior(-53, 1)
  const quiet = p.prior(-65, 1)
  assert.ok(loud && quiet)
  assert.ok(loud.mean > 4 && quiet.mean < -2, `a loud claim moves the prior up, a quiet one down: ${loud.mean}, ${quiet.mean}`)
  // The settled offsets' noise attenuates the correlation (0.83 · 0.95 = 0.79 here): sd about 2.5 dB.
  assert.ok(loud.sd < 3, `narrower than the population's 4 dB: ${loud.sd}`)
  // The real offset given the claim has an sd of 3·1/√10 = 0.95 dB: the settled offsets' noise
  // keeps the learned prior wider than that, never narrower.
  assert.ok(loud.sd > 0.95, `wider than the truth: ${loud.sd}`)
  assert.equal(p.prior(undefined, 1), null, 'a phone without tx keeps the site prior')
})

test('a measured power that says nothing leaves the prior as it was', () => {
  assert.equal(learn(400, 0, () => -59).prior(-59, 0), null, 'every phone claims the same: nothing learned')
  const noise = learn(400, 0, (_real, r) => Math.round(-59 + r.normal(0, 3))).prior(-59, 0)
  assert.ok(noise === null || noise.sd > 3.8, `an unrelated figure keeps the population spread: ${noise?.sd}`)
})

test('the measured power is not trusted before enough phones, nor when it is far from every claim seen', () => {
  assert.equal(learn(20, 1).prior(-55, 0), null)
  const p = learn(400, 1)
  assert.ok(p.prior(-55, 0))
  assert.equal(p.prior(-20, 0), null, 'an Eddystone power at 0 m, or a placeholder')
})

test('a few phones with a placeholder claim do not spoil what the others taught', () => {
  const clean = learn(400, 1)
  let i = 0
  // The same phones, every thirtieth claiming -127 instead.
  const spoilt = learn(400, 1, (real, r) => {
    const claim = Math.round(-59 + real + r.normal(0, 1))
    return ++i % 30 === 0 ? -127 : claim
  })
  const a = clean.prior(-53, 0)
  const b = spoilt.prior(-53, 0)
  assert.ok(a && b)
  assert.ok(Math.abs(a.sd - b.sd) < 0.3 && Math.abs(a.mean - b.mean) < 0.5, `${JSON.stringify(a)} against ${JSON.stringify(b)}`)
})

test('what was learned survives a restart; a broken saved state is ignored', () => {
  const p = learn(400, 1)
  const q = new AdvertisedPower(-59, 4)
  q.restore(JSON.parse(JSON.stringify(p.snapshot())))
  assert.deepEqual(q.prior(-55, 0), p.prior(-55, 0))
  const r = new AdvertisedPower(-59, 4)
  r.restore({ ...p.snapshot(), txVar: -1 })
  r.restore(JSON.parse('{"n": "many"}'))
  assert.equal(r.prior(-55, 0), null)
})
