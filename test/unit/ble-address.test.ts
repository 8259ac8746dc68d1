// Phones through OpenMQTTGateway/Theengs advertise from private BLE addresses (issue 26, hostile
// test): those are anonymous devices, never a person over time, whatever the Wi-Fi bit says.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isPrivateBleAddress, isRandomizedMac, SubjectHasher } from '../../gateway/ingest/subjects.ts'
import { bleIdentity } from '../../gateway/ingest/sensor-ids.ts'
import { translate, aliasMap } from '../../gateway/ingest/foreign.ts'
import { loadSiteFile } from '../../shared/site.ts'

const CASES: Array<{ mac: string; random?: boolean; anonymous: boolean; why: string }> = [
  { mac: '48:11:22:33:44:55', anonymous: true, why: 'resolvable private pattern (01), type unknown' },
  { mac: '48:11:22:33:44:55', random: true, anonymous: true, why: 'resolvable private (01), random' },
  { mac: '38:11:22:33:44:55', random: true, anonymous: true, why: 'non-resolvable private (00), random' },
  { mac: 'c8:11:22:33:44:55', random: true, anonymous: false, why: 'static random (11)' },
  { mac: '48:11:22:33:44:55', random: false, anonymous: false, why: 'public address' },
  { mac: '00:1a:7d:da:71:13', anonymous: false, why: 'vendor OUI, type unknown' },
  { mac: '02:1a:7d:da:71:13', anonymous: true, why: 'locally administered, type unknown' }
]

for (const c of CASES) {
  test(`BLE ${c.mac} (${c.why}) is ${c.anonymous ? '' : 'not '}anonymous`, () => {
    assert.equal(isPrivateBleAddress(c.mac, c.random), c.anonymous)
    assert.equal(bleIdentity(c.mac, undefined, new SubjectHasher('s'), c.random).anonymous, c.anonymous)
  })
}

test('Wi-Fi keeps its locally-administered rule', () => {
  assert.equal(isRandomizedMac('48:11:22:33:44:55'), false)
  assert.equal(isRandomizedMac('4a:11:22:33:44:55'), true)
})

test('OpenMQTTGateway mac_type reaches the native reading as `random`', () => {
  const site = loadSiteFile('sites/boutique.site.json')
  const aliases = aliasMap(site)
  aliases.set('OMG_b1', 'b1')
  const f = translate('home/OMG_b1/BTtoMQTT/381122334455', Buffer.from(JSON.stringify({ id: '38:11:22:33:44:55', mac_type: 1, rssi: -70 })), 'instore', site.storeId, aliases)
  assert.ok(f !== null && 'payload' in f, JSON.stringify(f))
  assert.equal(JSON.parse(f.payload.toString()).readings[0].random, true)
})
