import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { ROOT } from '../helpers/run.ts'

test('Meraki Scanning API: validator, shared secret, v3 records, strings for numbers, empty locations, v2 positive RSSI', async () => {
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8'))
  site.features
    .filter((f: { properties: { kind: string } }) => f.properties.kind === 'sensor')
    .forEach((f: { properties: { mac?: string } }, i: number) => {
      f.properties.mac = `e0:55:3d:00:00:0${i + 1}`
    })
  const sitePath = join(mkdtempSync(join(tmpdir(), 'meraki-')), 'site.json')
  writeFileSync(sitePath, JSON.stringify(site))
  const g = await startGateway({ clock: 'wall', meraki: { validator: 'abc123validator', secret: 's3cret', lateMs: 0 } }, sitePath)
  const url = `http://127.0.0.1:${g.httpPort}/meraki`
  const post = async (body: unknown) => await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  try {
    assert.equal(await (await fetch(url)).text(), 'abc123validator')
    assert.equal((await post({ version: '3.0', secret: 'wrong', type: 'WiFi', data: { observations: [] } })).status, 403)
    const now = new Date().toISOString()
    const v3 = {
      version: '3.0',
      secret: 's3cret',
      type: 'WiFi',
      data: {
        networkId: 'N_1',
        observations: [
          {
            clientMac: '3c:22:fb:00:11:22',
            locations: [
              {
                time: now,
                rssiRecords: [
                  { apMac: 'E0:55:3D:00:00:01', rssi: '-61' },
                  { apMac: 'e0:55:3d:00:00:02', rssi: -70 },
                  { apMac: 'aa:bb:cc:00:00:00', rssi: -50 }
                ]
              }
            ]
          },
          { clientMac: '3c:22:fb:00:11:33', locations: [], latestRecord: { time: now, nearestApMac: 'e0:55:3d:00:00:03', nearestApRssi: '-66' } }
        ]
      }
    }
    assert.equal((await post(v3)).status, 202)
    assert.equal(
      (
        await post({
          version: '3.0',
          secret: 's3cret',
          type: 'Bluetooth',
          data: { observations: [{ clientMac: 'c3:11:22:33:44:55', locations: [{ time: now, rssiRecords: [{ apMac: 'e0:55:3d:00:00:04', rssi: -72 }] }] }] }
        })
      ).status,
      202
    )
    const v2 = {
      version: '2.0',
      secret: 's3cret',
      type: 'DevicesSeen',
      data: { apMac: 'e0:55:3d:00:00:05', observations: [{ clientMac: '3c:22:fb:00:11:44', rssi: 30, seenEpoch: Math.floor(Date.now() / 1000) }] }
    }
    assert.equal((await post(v2)).status, 202)
    const metrics = async () => await (await fetch(`http://127.0.0.1:${g.httpPort}/metrics`)).text()
    await waitFor(async () => /instore_readings_total\{source="wifi"\} 4\b/.test(await metrics()), 5000, 'four Wi-Fi readings')
    const m = await metrics()
    assert.match(m, /instore_readings_total\{source="ble"\} 1\b/)
    assert.match(m, /instore_meraki_posts_total\{result="unknown_ap_records"\} 1\b/)
    assert.match(m, /instore_meraki_posts_total\{result="bad_secret"\} 1\b/)
    assert.doesNotMatch(m, /rssi_range"\} [1-9]/, 'v2 positive RSSI was converted to dBm')
  } finally {
    await g.stop()
  }
})
