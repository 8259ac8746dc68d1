import assert from 'node:assert/strict'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { promisify } from 'node:util'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { SubjectHasher } from '../../gateway/ingest/subjects.ts'
import { partTest } from '../helpers/parts.ts'

const run = promisify(execFile)

partTest('dbusmock', 'BlueZ scanning end to end against a mock BlueZ on a private D-Bus', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bluez-'))
  const bus = `unix:path=${join(dir, 'bus.sock')}`
  const procs: ChildProcess[] = []
  const env = { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: bus }
  const gdbus = async (...args: string[]) => await run('gdbus', ['call', '--system', '--dest', 'org.bluez', ...args], { env })
  const saved = process.env.DBUS_SYSTEM_BUS_ADDRESS
  let g: Awaited<ReturnType<typeof startGateway>> | null = null
  try {
    procs.push(spawn('dbus-daemon', ['--session', '--nofork', `--address=${bus}`], { stdio: 'ignore' }))
    await waitFor(() => existsSync(join(dir, 'bus.sock')), 10_000, 'the private bus')
    procs.push(spawn('/usr/bin/python3', ['-m', 'dbusmock', '--template', 'bluez5'], { env, stdio: 'ignore' }))
    await waitFor(
      async () =>
        await gdbus('--object-path', '/', '--method', 'org.freedesktop.DBus.Peer.Ping').then(
          () => true,
          () => false
        ),
      15_000,
      'the BlueZ mock'
    )
    await gdbus('--object-path', '/', '--method', 'org.bluez.Mock.AddAdapter', 'hci0', 'store-gw')
    await gdbus('--object-path', '/', '--method', 'org.bluez.Mock.AddDevice', 'hci0', 'AA:BB:CC:DD:EE:01', 'Tag-01')
    const dev = '/org/bluez/hci0/dev_AA_BB_CC_DD_EE_01'
    await gdbus('--object-path', dev, '--method', 'org.freedesktop.DBus.Properties.Set', 'org.bluez.Device1', 'RSSI', '<int16 -55>')

    process.env.DBUS_SYSTEM_BUS_ADDRESS = bus // node-ble (dbus-next) connects to the "system" bus it names
    g = await startGateway({ clock: 'wall', ble: { adapter: 'hci0', sensor: 'b5', intervalMs: 200 } })
    const metrics = async () => await (await fetch(`http://127.0.0.1:${g?.httpPort}/metrics`)).text()
    const count = async () => Number(/instore_readings_total\{source="ble"\} (\d+)/.exec(await metrics())?.[1] ?? 0)
    await waitFor(async () => (await count()) >= 3, 15_000, 'readings from the adapter')
    // RSSI keeps updating: a stronger signal shows up in the estimate.
    await gdbus('--object-path', dev, '--method', 'org.freedesktop.DBus.Properties.Set', 'org.bluez.Device1', 'RSSI', '<int16 -40>')
    const before = await count()
    await waitFor(async () => (await count()) > before + 3, 15_000, 'more readings after the RSSI change')
    const subject = new SubjectHasher('test-secret').hash('AA:BB:CC:DD:EE:01')
    await waitFor(() => (g?.pipeline?.positions() ?? []).some(p => p.subject === subject), 15_000, 'a position for the tag (hashed MAC)')
    assert.ok(!JSON.stringify(g.pipeline?.positions()).includes('AA:BB'), 'no raw MAC in the output')
  } finally {
    await g?.stop()
    if (saved === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS
    else process.env.DBUS_SYSTEM_BUS_ADDRESS = saved
    for (const p of procs.reverse()) p.kill()
  }
})
