import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn, execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { partTest, MOSQUITTO } from '../helpers/parts.ts'
import { freePort } from '../helpers/run.ts'

const run = promisify(execFile)

partTest('mosquitto', 'the gateway on Mosquitto: sensors via mosquitto_pub, output read with mosquitto_sub', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mosq-'))
  const port = await freePort()
  // max_queued_messages 0: no limit, or QoS 1 floods get dropped.
  writeFileSync(join(dir, 'm.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\npersistence false\n`)
  const broker = spawn(MOSQUITTO, ['-c', join(dir, 'm.conf')], { stdio: 'ignore' })
  let g: Awaited<ReturnType<typeof startGateway>> | null = null
  try {
    await waitFor(
      async () =>
        await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', 'probe', '-m', 'x']).then(
          () => true,
          () => false
        ),
      10_000,
      'mosquitto'
    )
    g = await startGateway({ broker: `mqtt://127.0.0.1:${port}` })
    const sub = spawn('mosquitto_sub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-t',
      'instore/boutique-1/positions/#',
      '-t',
      'instore/boutique-1/events/#',
      '-t',
      'test/probe',
      '-v',
      '-q',
      '1'
    ])
    let seen = ''
    sub.stdout.on('data', d => {
      seen += d
    })
    // mosquitto_sub says nothing once subscribed: probe until a message of ours comes back.
    await waitFor(
      async () => {
        await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-t', 'test/probe', '-m', 'x'])
        return seen.includes('test/probe')
      },
      10_000,
      'mosquitto_sub to subscribe'
    )
    const T = 1764000000000
    // A shopper standing in the Women sector for 40 s, heard by every sensor once a second.
    for (let s = 0; s < 40; s++) {
      for (const [sensor, rssi] of [
        ['b1', -66],
        ['b2', -72],
        ['b4', -63],
        ['b5', -70],
        ['b7', -60],
        ['b9', -68],
        ['b3', -80],
        ['b6', -79],
        ['b8', -74]
      ] as const) {
        const msg = JSON.stringify({ ts: T + s * 1000 + 900, readings: [{ t: 'ble', id: 'tag:mosq0001', rssi, ts: T + s * 1000 + 100 }] })
        await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', `instore/boutique-1/sensors/${sensor}/readings`, '-m', msg])
      }
    }
    await waitFor(() => /events\/shop\.enter/.test(seen) && /positions\/tag:mosq0001/.test(seen), 20_000, 'positions and events through Mosquitto')
    const pos = seen
      .split('\n')
      .filter(l => l.includes('/positions/'))
      .map(l => JSON.parse(l.slice(l.indexOf(' ') + 1)) as { x: number; y: number; sector: string | null })
    assert.ok(
      pos.some(p => p.sector === 'women' || p.sector === 'new'),
      JSON.stringify(pos.slice(-3))
    )
    sub.kill()
  } finally {
    await g?.stop()
    broker.kill()
  }
})
