// MQTT clients that behave like the upstream firmwares on the wire: client id, will, what they
// publish on connect, what they subscribe to, and their readings once a second. Sources as in
// test/fixtures/*.json (ESPresense src/main.cpp, OpenMQTTGateway main/User_config.h).
import mqtt from 'mqtt'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './run.ts'

export interface FirmwareNode {
  sensor: string
  firmware: 'espresense' | 'openmqttgateway'
  name: string
  password: string
}

export interface FirmwareRun {
  /** Connection losses (close, offline, error) per sensor while running. */
  drops: Map<string, number>
  /** Subscriptions the broker refused (granted 0x80), as `sensor topic`. */
  refused: string[]
  stop(): Promise<void>
}

const UUID = 'e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4'
const OMG = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/openmqttgateway.json'), 'utf8')) as { messages: Array<{ payload: Record<string, unknown> }> }

/**
 * Connects every node and sends, once a second, the readings of one tag at `spot` (rssi from a
 * log-distance model) until stopped. `keepalive` short, so a broker dropping them would show.
 */
export async function startFirmwareNodes(url: string, nodes: FirmwareNode[], rssiAt: (sensor: string) => number, keepaliveS = 2): Promise<FirmwareRun> {
  const drops = new Map<string, number>()
  const refused: string[] = []
  const clients: mqtt.MqttClient[] = []
  for (const n of nodes) {
    const esp = n.firmware === 'espresense'
    const status = esp ? `espresense/rooms/${n.name}/status` : `home/${n.name}/LWT`
    const c = await mqtt.connectAsync(url, {
      clientId: esp ? `espresense-${n.name}` : n.name,
      username: n.sensor,
      password: n.password,
      keepalive: keepaliveS,
      reconnectPeriod: 0,
      protocolVersion: 4,
      will: { topic: status, payload: Buffer.from('offline'), qos: 0, retain: true }
    })
    for (const ev of ['close', 'offline', 'error'] as const) c.on(ev, () => drops.set(n.sensor, (drops.get(n.sensor) ?? 0) + 1))
    const subs = esp ? ['espresense/rooms/*/+/set', `espresense/rooms/${n.name}/+/set`, 'espresense/settings/+/config'] : [`home/${n.name}/commands/#`, 'homeassistant/status']
    for (const s of subs) {
      const granted = await c.subscribeAsync(s, { qos: 1 })
      if (granted.some(g => g.qos === 128)) refused.push(`${n.sensor} ${s}`)
    }
    if (esp) {
      await c.publishAsync(status, 'online', { qos: 0, retain: true })
      await c.publishAsync(`espresense/rooms/${n.name}/max_distance`, '16', { qos: 0, retain: true })
      await c.publishAsync(`homeassistant/sensor/espresense_a1b2c3/${n.name}_max_distance/config`, '{"name":"Max Distance"}', { qos: 0, retain: true })
      await c.publishAsync(`espresense/rooms/${n.name}/telemetry`, JSON.stringify({ ip: '192.168.1.50', uptime: 1, ver: 'v4.0.0', count: 1 }), { qos: 0 })
    } else {
      await c.publishAsync(status, 'online', { qos: 0, retain: true })
      await c.publishAsync(`home/${n.name}/version`, 'v1.7.0', { qos: 0, retain: true })
      await c.publishAsync(`home/${n.name}/SYStoMQTT`, JSON.stringify({ uptime: 1, version: 'v1.7.0', modules: ['BT'] }), { qos: 0 })
    }
    clients.push(c)
  }
  const timer = setInterval(() => {
    nodes.forEach((n, i) => {
      const c = clients[i]
      const rssi = rssiAt(n.sensor)
      if (n.firmware === 'espresense') {
        const id = `iBeacon:${UUID}-1-7`
        c.publish(`espresense/devices/${id}/${n.name}`, JSON.stringify({ mac: 'c31122334455', id, 'rssi@1m': -59, rssi, rxAdj: 0, distance: 2.1, var: 0.3, int: 1000 }), { qos: 0 })
      } else {
        c.publish(`home/${n.name}/BTtoMQTT/6087574C9BC2`, JSON.stringify({ ...OMG.messages[0].payload, rssi }), { qos: 0 })
        if (Math.random() < 0.1) c.publish(`home/${n.name}/SYStoMQTT`, JSON.stringify({ uptime: 2, modules: ['BT'] }), { qos: 0 })
      }
    })
  }, 1000)
  return {
    drops,
    refused,
    async stop() {
      clearInterval(timer)
      for (const c of clients) c.removeAllListeners('close').removeAllListeners('offline')
      await Promise.all(clients.map(async c => await c.endAsync()))
    }
  }
}
