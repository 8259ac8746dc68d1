// Defect 2 of the outside tester's s9 list: the per-address trigger-stream cap keyed on the whole
// IPv6 address while the rate limits group an IPv6 caller by its /64, so one /64 opened a stream
// per interface id until the replica was full and every other phone got 503. Both now count
// under one key (server/caller-address.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from '../../server/app.ts'
import { silentLogger } from '../../shared/log.ts'
import { onTestDb, TEST_ENGINE } from '../helpers/postgres.ts'
import { metric, openSse, type Opened } from '../helpers/streams.ts'
import { callerKey } from '../../server/caller-address.ts'

test('callerKey: an IPv6 caller by its /64, IPv4 (mapped or not) by its address', () => {
  const cases: Array<[string, string]> = [
    ['2001:db8:beef:1::1', '2001:db8:beef:1::'],
    ['2001:db8:beef:1:aaaa:bbbb:cccc:dddd', '2001:db8:beef:1::'],
    ['2001:DB8:BEEF:1::7', '2001:db8:beef:1::'],
    ['2001:db8:beef:2::1', '2001:db8:beef:2::'],
    ['198.51.100.7', '198.51.100.7'],
    ['::ffff:198.51.100.7', '198.51.100.7']
  ]
  for (const [ip, key] of cases) assert.equal(callerKey(ip), key, ip)
})

test(`one IPv6 /64 is one caller for the trigger-stream cap, as for the rate limits (${TEST_ENGINE})`, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'stream-prefix-'))
  const { app } = await buildServer(
    await onTestDb({ dataDir, log: silentLogger, trustProxy: '127.0.0.1', limits: { triggerStreamsPerAddress: 3, triggerStreamsPerReplica: 8, registrationsPerWindow: 3 } })
  )
  const open: Opened[] = []
  try {
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    const register = async (from: string) => {
      const r = await fetch(`${url}/v1/devices`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
        body: JSON.stringify({ consent: { presence: true, marketing: true } })
      })
      return { status: r.status, body: (await r.json()) as { deviceId: string; token: string } }
    }
    // The registration limit: a new interface id in the same /64 is the same caller.
    const regs = [await register('2001:db8:beef:1::a'), await register('2001:db8:beef:1::b'), await register('2001:db8:beef:1::c'), await register('2001:db8:beef:1::d')]
    assert.deepEqual(
      regs.map(r => r.status),
      [201, 201, 201, 429]
    )
    const devices = regs.slice(0, 3).map(r => r.body)
    for (let i = 0; i < 5; i++) devices.push((await register(`2001:db8:${i + 10}::1`)).body)
    const honest = (await register('203.0.113.50')).body
    // The stream cap: the same /64 under another interface id each time.
    const statuses: Array<number | string | null> = []
    for (let i = 0; i < 8; i++) {
      const d = devices[i] as { deviceId: string; token: string }
      const s = await openSse(url, `/v1/devices/${d.deviceId}/triggers`, d.token, { 'x-forwarded-for': `2001:db8:beef:1::${(i + 1).toString(16)}` })
      open.push(s)
      statuses.push(s.status)
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429, 429, 429])
    assert.equal(await metric(url, 'instore_server_streams_refused_total{limit="address"}'), 5)
    // Another /64 and another IPv4 caller still get theirs: the replica is not full.
    const other = await openSse(url, `/v1/devices/${(devices[3] as { deviceId: string }).deviceId}/triggers`, (devices[3] as { token: string }).token, {
      'x-forwarded-for': '2001:db8:beef:2::1'
    })
    open.push(other)
    assert.equal(other.status, 200)
    const phone = await openSse(url, `/v1/devices/${honest.deviceId}/triggers`, honest.token, { 'x-forwarded-for': '203.0.113.50' })
    open.push(phone)
    assert.equal(phone.status, 200)
  } finally {
    for (const s of open) s.close()
    await app.close()
  }
})
