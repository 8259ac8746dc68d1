import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BleChains } from '../../gateway/presence/ble-chains.ts'
import type { BleChain } from '../../gateway/presence/people-types.ts'

test('forget() drops a suspect chain from every map, and holds() sees suspect chains', () => {
  const suspects: BleChain[] = []
  const chains = new BleChains(
    { bleLinkGapMs: 30_000, forgetMs: 600_000, newBleDevicesPerSectorMin: 2 },
    () => {},
    c => suspects.push(c)
  )
  // More new addresses in one place within a minute than allowed: the place is flooded, the chains just before are suspect.
  const place = { shop: 's1', sector: 'a' }
  const heard: { subject: string; shop: string; sector: string }[] = []
  for (let i = 0; i < 6; i++) {
    heard.push({ subject: `ble:${i}`, ...place })
    chains.step(1_000 + i * 100, [...heard])
  }
  assert.ok(suspects.length > 0, 'a chain became suspect')
  const victim = suspects[0]?.address ?? ''
  assert.ok(chains.holds(victim))
  chains.forget(victim)
  assert.equal(chains.holds(victim), false, 'nothing left after erasure')
  const suspected = (chains as unknown as { suspected: Map<BleChain, number> }).suspected
  assert.deepEqual(
    [...suspected.keys()].filter(c => c.address === victim),
    [],
    'the suspect map no longer carries the erased subject'
  )
})
