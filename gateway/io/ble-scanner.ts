// The gateway box's own Bluetooth adapter as one more sensor, through BlueZ (node-ble over
// D-Bus). Discovery asks for duplicate data, so RSSI keeps updating for devices already seen;
// the adapter's devices are polled, since property-change signals are not guaranteed (the BlueZ
// mock never sends them). Each poll becomes a native batch for the configured site sensor.
import { createRequire } from 'node:module'
import type { Logger } from '../../shared/log.ts'

interface BusHelper {
  callMethod(name: string, ...args: unknown[]): Promise<unknown>
}
interface Adapter {
  helper: BusHelper
  devices(): Promise<string[]>
  getDevice(uuid: string): Promise<Device>
  isDiscovering(): Promise<boolean>
  startDiscovery(): Promise<void>
  stopDiscovery(): Promise<void>
}
interface Device {
  getRSSI(): Promise<number>
}
interface NodeBle {
  createBluetooth(): { bluetooth: { getAdapter(name: string): Promise<Adapter> }; destroy(): void }
}

export interface BleScannerOptions {
  adapter: string
  /** Site sensor id the adapter stands for. */
  sensor: string
  /** Poll period, ms (default 500). */
  intervalMs: number
}

export class BleScanner {
  private timer: NodeJS.Timeout | null = null
  private destroy: (() => void) | null = null
  private adapter: Adapter | null = null

  constructor(
    private readonly o: BleScannerOptions,
    private readonly emit: (sensor: string, readings: Array<{ t: 'ble'; id: string; rssi: number }>) => void,
    private readonly log: Logger
  ) {}

  async start(): Promise<void> {
    const require = createRequire(import.meta.url)
    const ble = require('node-ble') as NodeBle
    const typed = require('node-ble/src/buildTypedValue.js') as (type: string, value: unknown) => unknown
    const { bluetooth, destroy } = ble.createBluetooth()
    this.destroy = destroy
    const adapter = (this.adapter = await bluetooth.getAdapter(this.o.adapter))
    if (!(await adapter.isDiscovering())) {
      try {
        await adapter.helper.callMethod('SetDiscoveryFilter', { Transport: typed('string', 'le'), DuplicateData: typed('boolean', true) })
        await adapter.helper.callMethod('StartDiscovery')
      } catch (err) {
        this.log.warn('discovery filter refused; plain discovery', { err: (err as Error).message })
        await adapter.startDiscovery()
      }
    }
    this.timer = setInterval(() => {
      void this.poll()
    }, this.o.intervalMs)
    this.log.info('BLE scanning', { adapter: this.o.adapter, sensor: this.o.sensor })
  }

  private async poll(): Promise<void> {
    const adapter = this.adapter
    if (!adapter) return
    try {
      const readings: Array<{ t: 'ble'; id: string; rssi: number }> = []
      for (const mac of await adapter.devices()) {
        // Devices without a current RSSI (not heard lately) have no such property.
        const rssi = await (await adapter.getDevice(mac)).getRSSI().catch(() => null)
        if (typeof rssi === 'number' && Number.isFinite(rssi)) readings.push({ t: 'ble', id: mac, rssi })
      }
      if (readings.length > 0) this.emit(this.o.sensor, readings)
    } catch (err) {
      this.log.warn('BLE poll failed', { err: (err as Error).message })
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    try {
      if (this.adapter && (await this.adapter.isDiscovering())) await this.adapter.stopDiscovery()
    } catch {
      /* the adapter may be gone */
    }
    this.destroy?.()
    this.destroy = null
  }
}
