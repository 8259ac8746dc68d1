// Sensors people already own, mapped onto the native pipeline (contract §2): each foreign message
// becomes a native readings batch for the site sensor it maps to, then takes the same ingest path
// (validation, hashing, counters). A node or gateway maps to a sensor by id or by the sensor's
// `aliases` in the site file.
//
// - ESPresense: `espresense/devices/<deviceId>/<node>`, e.g.
//   {"id":"iBeacon:e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4-1-7","rssi":-71,"rssi@1m":-59,"distance":2.1,"mac":"c3:11:22:33:44:55"}
// - OpenMQTTGateway / Theengs: `home/<gateway>/BTtoMQTT/<MAC>`, e.g.
//   {"id":"C3:11:22:33:44:55","rssi":-71,"txpower":-59,"uuid":"e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4","major":1,"minor":7}
import type { Site } from '../shared/site.ts'
import { topics } from '../shared/mqtt-topics.ts'

export const FOREIGN_TOPICS = ['espresense/devices/+/+', 'home/+/BTtoMQTT/+']

export type Foreign = { topic: string, payload: Buffer } | { reject: 'unknown_sensor' | 'bad_json' | 'bad_schema', detail: string } | null

export function aliasMap (site: Site): Map<string, string> {
  const m = new Map<string, string>()
  for (const f of site.file.features) {
    if (f.properties.kind !== 'sensor') continue
    m.set(f.properties.id, f.properties.id)
    for (const a of f.properties.aliases ?? []) m.set(a, f.properties.id)
  }
  return m
}

/** A number, or a string holding one (these formats send both); undefined otherwise. */
export function num (v: unknown): number | undefined {
  const n = typeof v === 'string' ? Number(v) : v
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined
}

/** An ESPresense iBeacon id `iBeacon:<uuid>-<major>-<minor>` in contract form. */
function espresenseId (id: string): string {
  const m = /^ibeacon:([0-9a-f-]{36})-(\d+)-(\d+)$/i.exec(id)
  return m ? `ibeacon:${m[1].toLowerCase()}:${m[2]}:${m[3]}` : id
}

/** Translates a foreign message; null when the topic is not a foreign one. */
export function translate (topic: string, payload: Buffer, prefix: string, storeId: string, aliases: Map<string, string>): Foreign {
  const p = topic.split('/')
  let node: string; let kind: 'esp' | 'omg'
  if (p.length === 4 && p[0] === 'espresense' && p[1] === 'devices') { node = p[3]; kind = 'esp' } else if (p.length === 4 && p[0] === 'home' && p[2] === 'BTtoMQTT') { node = p[1]; kind = 'omg' } else return null
  const sensor = aliases.get(node)
  if (!sensor) return { reject: 'unknown_sensor', detail: `${kind === 'esp' ? 'ESPresense node' : 'OpenMQTTGateway'} ${node.slice(0, 100)}` }
  let body: Record<string, unknown>
  try { body = JSON.parse(payload.toString()) as Record<string, unknown> } catch (err) { return { reject: 'bad_json', detail: (err as Error).message.slice(0, 200) } }
  if (typeof body !== 'object' || body === null) return { reject: 'bad_schema', detail: 'not an object' }
  const rssi = num(body.rssi)
  if (rssi === undefined) return { reject: 'bad_schema', detail: 'rssi missing or not a number' }
  let id: string | undefined; let tx: number | undefined
  if (kind === 'esp') {
    id = typeof body.id === 'string' ? espresenseId(body.id) : undefined
    tx = num(body['rssi@1m'])
  } else {
    const uuid = body.uuid; const major = num(body.major); const minor = num(body.minor)
    id = typeof uuid === 'string' && major !== undefined && minor !== undefined ? `ibeacon:${uuid.toLowerCase()}:${major}:${minor}` : (typeof body.id === 'string' ? body.id : p[3])
    tx = num(body.txpower)
  }
  if (!id) return { reject: 'bad_schema', detail: 'no device id' }
  // No timestamps in these formats: the gateway stamps them on arrival (event time in replay).
  const reading = { t: 'ble', id, rssi: Math.round(rssi), ...(tx !== undefined && tx >= -127 && tx <= 20 ? { tx } : {}) }
  return { topic: topics.readings(prefix, storeId, sensor), payload: Buffer.from(JSON.stringify({ readings: [reading] })) }
}
