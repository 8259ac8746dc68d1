// Configurable topic roots: each firmware's default, another base topic, Theengs publish_topics
// named with their sensor (no alias needed for `TheengsGateway`), and bad roots refused at start.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { translate, aliasMap, foreignTopics, DEFAULT_FOREIGN, type ForeignConfig } from '../../gateway/ingest/foreign.ts'
import { loadSiteFile } from '../../shared/site.ts'
import { ROOT, runBin } from '../helpers/run.ts'

const site = loadSiteFile(join(ROOT, 'sites/boutique.site.json'))
const aliases = aliasMap(site)
aliases.set('OMG_b1', 'b1')
aliases.set('front-left', 'b1')
const OMG = '{"id":"60:87:57:4C:9B:C2","rssi":-70,"uuid":"e5b9e3e52aaa4b32b5d59a5e1ab1f0b4","major":1,"minor":7}'
const ESP = '{"mac":"c31122334455","id":"iBeacon:e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4-1-7","rssi":-71.00}'
const CUSTOM: ForeignConfig = { espresense: 'store7/esp', omg: 'store7', theengs: [{ topic: 'home/TheengsGateway/BTtoMQTT', sensor: 'b3' }] }

const CASES: Array<{ c: ForeignConfig; topic: string; payload: string; sensor: string | null; reject?: string }> = [
  { c: DEFAULT_FOREIGN, topic: 'espresense/devices/iBeacon:x/front-left', payload: ESP, sensor: 'b1' },
  { c: DEFAULT_FOREIGN, topic: 'home/OMG_b1/BTtoMQTT/6087574C9BC2', payload: OMG, sensor: 'b1' },
  { c: DEFAULT_FOREIGN, topic: 'home/TheengsGateway/BTtoMQTT/6087574C9BC2', payload: OMG, sensor: null, reject: 'unknown_sensor' },
  { c: DEFAULT_FOREIGN, topic: 'store7/OMG_b1/BTtoMQTT/6087574C9BC2', payload: OMG, sensor: null },
  { c: CUSTOM, topic: 'store7/esp/devices/iBeacon:x/front-left', payload: ESP, sensor: 'b1' },
  { c: CUSTOM, topic: 'store7/OMG_b1/BTtoMQTT/6087574C9BC2', payload: OMG, sensor: 'b1' },
  { c: CUSTOM, topic: 'home/TheengsGateway/BTtoMQTT/6087574C9BC2', payload: OMG, sensor: 'b3' },
  { c: CUSTOM, topic: 'home/TheengsGateway/BTtoMQTT/6087574C9BC2', payload: '{"id":"60:87:57:4C:9B:C2","presence":"present"}', sensor: null },
  { c: CUSTOM, topic: 'espresense/devices/iBeacon:x/front-left', payload: ESP, sensor: null }
]

for (const k of CASES) {
  test(`roots ${k.c.espresense}, ${k.c.omg}${k.c.theengs.length ? ', theengs ' + k.c.theengs[0].topic : ''}: ${k.topic} → ${k.sensor ?? k.reject ?? 'not a reading'}`, () => {
    const f = translate(k.topic, Buffer.from(k.payload), 'instore', site.storeId, aliases, k.c)
    if (k.sensor) {
      assert.ok(f !== null && 'topic' in f, JSON.stringify(f))
      assert.equal(f.topic, `instore/boutique-1/sensors/${k.sensor}/readings`)
      assert.ok(
        foreignTopics(k.c).some(p => new RegExp('^' + p.replace(/\+/g, '[^/]+') + '$').test(k.topic)),
        'the gateway subscribes to it'
      )
    } else if (k.reject) {
      assert.ok(f !== null && 'reject' in f && f.reject === k.reject, JSON.stringify(f))
    } else {
      assert.ok(f === null || 'ignore' in f, JSON.stringify(f))
    }
  })
}

test('bad roots and Theengs topics naming no sensor of the site are refused at start, every problem listed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'roots-'))
  writeFileSync(
    join(dir, 'gw.json'),
    JSON.stringify({ site: join(ROOT, 'sites/boutique.site.json'), 'omg-root': 'home/#', 'theengs-topics': 'home/TheengsGateway/BTtoMQTT=nosuch' })
  )
  const r = await runBin('instore-gateway', ['--config', join(dir, 'gw.json'), '--port', '0', '--http-port', '0', '--data', dir])
  assert.equal(r.code, 2, r.stdout + r.stderr)
  assert.match(r.stderr, /OpenMQTTGateway root 'home\/#'/)
  assert.match(r.stderr, /nosuch is not a sensor of the site/)
})
