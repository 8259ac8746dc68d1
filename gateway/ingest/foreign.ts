// Sensors people already own, mapped onto the native pipeline (contract §2): each foreign message
// becomes a native readings batch for the site sensor it maps to, then takes the same ingest path
// (validation, identity, hashing, counters). Ids are passed on as the sensor sent them: what they
// mean is decided in one place, gateway/ingest/sensor-ids.ts.
//
// - ESPresense: `<root>/devices/<deviceId>/<room>` (root `espresense`), e.g.
//   {"mac":"c31122334455","id":"iBeacon:e5b9e3e5-2aaa-4b32-b5d5-9a5e1ab1f0b4-1-7","rssi@1m":-59,"rssi":-71.00,...}
//   The room maps to a site sensor by the sensor's id or `aliases`.
// - OpenMQTTGateway: `<root>/<gateway>/BTtoMQTT/<MAC>` (root `home`); the gateway name maps by alias.
// - Theengs Gateway: `<publish_topic>/<MAC>` (publish_topic `home/TheengsGateway/BTtoMQTT`): either
//   named in `theengs` with its site sensor, or taken as an OpenMQTTGateway named `TheengsGateway`.
//   Both send Theengs decoder JSON, e.g.
//   {"id":"60:87:57:4C:9B:C2","rssi":-70,"model_id":"IBEACON","uuid":"e5b9e3e52aaa4b32b5d59a5e1ab1f0b4","major":1,"minor":7,"txpower":-59}
import type { Site } from '../../shared/site.ts'
import { topics } from '../../shared/mqtt-topics.ts'
import { ibeaconId } from './sensor-ids.ts'
import { type Detail, rawDetail } from './subjects.ts'

/** Where each foreign format publishes (the gateway's config file sets these). */
export interface ForeignConfig {
  /** ESPresense's topic root (its firmware's CHANNEL). */
  espresense: string
  /** OpenMQTTGateway's base topic, without the trailing slash. */
  omg: string
  /** Theengs Gateway `publish_topic`s, each with the site sensor that gateway stands for. */
  theengs: Array<{ topic: string; sensor: string }>
}

/** The firmwares' own defaults: ESPresense `CHANNEL`, OpenMQTTGateway `Base_Topic`. */
export const DEFAULT_FOREIGN: ForeignConfig = { espresense: 'espresense', omg: 'home', theengs: [] }

/** The topic filters the gateway subscribes to for foreign sensors. */
export function foreignTopics(c: ForeignConfig): string[] {
  return [`${c.espresense}/devices/+/+`, `${c.omg}/+/BTtoMQTT/+`, ...c.theengs.map(t => `${t.topic}/+`)]
}

/** Whether `topic` is `root` or lies under it. */
export function underRoot(topic: string, root: string): boolean {
  return topic === root || topic.startsWith(root + '/')
}

/** Whether one topic root is the other or lies under it. */
const overlap = (a: string, b: string): boolean => underRoot(a, b) || underRoot(b, a)

/**
 * Checks a foreign config against the site and the native `prefix`; every problem listed. A root
 * inside the native tree would let a sensor's firmware topics write positions, events or other
 * sensors' readings; two Theengs topics nested in each other would map one gateway's readings to
 * another's sensor. (ESPresense's or Theengs' topics may sit under OpenMQTTGateway's root: the
 * topic shapes differ and Theengs topics are matched first.)
 */
export function foreignProblems(c: ForeignConfig, site: Site, prefix = 'instore'): string[] {
  const problems: string[] = []
  const named: Array<[string, string]> = [
    ['espresense root', c.espresense],
    ['OpenMQTTGateway root', c.omg],
    ...c.theengs.map((t): [string, string] => ['Theengs publish_topic', t.topic])
  ]
  for (const [name, v] of named) if (overlap(v, prefix)) problems.push(`${name} '${v}' overlaps the gateway's own topics '${prefix}'`)
  if (c.espresense === c.omg) problems.push(`espresense root and OpenMQTTGateway root are both '${c.omg}'`)
  c.theengs.forEach((t, i) => {
    if (overlap(t.topic, c.espresense)) problems.push(`Theengs publish_topic '${t.topic}' overlaps the espresense root '${c.espresense}'`)
    if (t.topic === c.omg) problems.push(`Theengs publish_topic '${t.topic}' is the OpenMQTTGateway root`)
    for (const u of c.theengs.slice(i + 1)) if (overlap(t.topic, u.topic)) problems.push(`Theengs publish_topics '${t.topic}' and '${u.topic}' overlap`)
  })
  const root = (name: string, v: string) => {
    if (v === '' || /[+#]/.test(v) || v.includes(String.fromCharCode(0)) || v.startsWith('/') || v.endsWith('/'))
      problems.push(`${name} '${v}': a topic without wildcards or leading/trailing '/'`)
  }
  root('espresense root', c.espresense)
  root('OpenMQTTGateway root', c.omg)
  for (const t of c.theengs) {
    root('Theengs publish_topic', t.topic)
    if (!site.sensors.has(t.sensor)) problems.push(`Theengs publish_topic ${t.topic}: ${t.sensor} is not a sensor of the site`)
    // Under another sensor's OpenMQTTGateway name, that sensor may write the topic (its firmware's
    // topics are `<root>/<name>/#`) and its readings would count as this gateway's.
    for (const [name, id] of aliasMap(site)) {
      if (id !== t.sensor && overlap(t.topic, `${c.omg}/${name}`))
        problems.push(`Theengs publish_topic '${t.topic}' (${t.sensor}) lies under '${c.omg}/${name}', where ${id} publishes as an OpenMQTTGateway`)
    }
  }
  return problems
}

/** `topic=sensor,topic=sensor` (the command-line form of `theengs`). */
export function parseTheengs(s: string): ForeignConfig['theengs'] {
  return s
    .split(',')
    .map(x => x.trim())
    .filter(x => x !== '')
    .map(x => {
      const i = x.lastIndexOf('=')
      return { topic: i > 0 ? x.slice(0, i) : x, sensor: i > 0 ? x.slice(i + 1) : '' }
    })
}

export type Foreign =
  | { topic: string; payload: Buffer }
  | { reject: 'unknown_sensor' | 'oversized' | 'bad_json' | 'bad_schema' | 'rssi_range'; detail: Detail }
  | { ignore: string }
  | null

export function aliasMap(site: Site): Map<string, string> {
  const m = new Map<string, string>()
  for (const f of site.file.features) {
    if (f.properties.kind !== 'sensor') continue
    m.set(f.properties.id, f.properties.id)
    for (const a of f.properties.aliases ?? []) m.set(a, f.properties.id)
  }
  return m
}

/**
 * A number, or a string holding one (these formats send both); undefined otherwise. A blank
 * string is no number (JavaScript's Number('') is 0: an empty rssi would read as 0 dBm, an empty
 * major as 0).
 */
export function num(v: unknown): number | undefined {
  if (typeof v === 'string' && v.trim() === '') return undefined
  const n = typeof v === 'string' ? Number(v) : v
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined
}

/**
 * A JSON parse error as a fixed reason and, when V8 gives it, the position: V8's own message
 * quotes a few characters of the payload, a piece of a MAC too short for the log's MAC redactor.
 */
export function jsonError(err: unknown): string {
  const at = /position (\d+)/.exec(err instanceof Error ? err.message : '')?.[1]
  return at === undefined ? 'not valid JSON' : `not valid JSON (at position ${at})`
}

type Kind = 'esp' | 'omg' | 'theengs'
interface Route {
  kind: Kind
  node: string
  sensor: string | undefined
}

/** Which format and sensor a topic belongs to; null when it is not a foreign reading topic. */
export function route(topic: string, c: ForeignConfig, aliases: Map<string, string>): Route | null {
  for (const t of c.theengs) {
    if (topic.startsWith(t.topic + '/') && !topic.slice(t.topic.length + 1).includes('/')) return { kind: 'theengs', node: t.topic, sensor: t.sensor }
  }
  const under = (root: string) => (topic.startsWith(root + '/') ? topic.slice(root.length + 1).split('/') : null)
  const e = under(c.espresense)
  if (e?.length === 3 && e[0] === 'devices') return { kind: 'esp', node: e[2], sensor: aliases.get(e[2]) }
  const o = under(c.omg)
  if (o?.length === 3 && o[1] === 'BTtoMQTT') return { kind: 'omg', node: o[0], sensor: aliases.get(o[0]) }
  return null
}

const NAMES: Record<Kind, string> = { esp: 'ESPresense room', omg: 'OpenMQTTGateway', theengs: 'Theengs Gateway' }

/** The native limit (gateway.ts `maxMessageBytes`), for callers that do not say. */
export const DEFAULT_MAX_FOREIGN_BYTES = 256 * 1024

/**
 * Translates a foreign message; null when the topic is not a foreign one. `maxBytes`: the same
 * limit native messages have, checked before parsing (JSON.parse of a huge message would hold the
 * gateway, and its embedded broker, for as long as it takes).
 */
export function translate(
  topic: string,
  payload: Buffer,
  prefix: string,
  storeId: string,
  aliases: Map<string, string>,
  c: ForeignConfig = DEFAULT_FOREIGN,
  maxBytes = DEFAULT_MAX_FOREIGN_BYTES
): Foreign {
  const r = route(topic, c, aliases)
  if (r === null) return null
  if (!r.sensor)
    return {
      reject: 'unknown_sensor',
      detail: r.node === 'TheengsGateway' ? `${NAMES[r.kind]} TheengsGateway (alias it, or name its publish_topic with a sensor)` : rawDetail(r.node, 100, `${NAMES[r.kind]} `)
    }
  if (payload.length > maxBytes) return { reject: 'oversized', detail: `${payload.length} bytes > ${maxBytes}` }
  let body: Record<string, unknown>
  try {
    body = JSON.parse(payload.toString()) as Record<string, unknown>
  } catch (err) {
    return { reject: 'bad_json', detail: jsonError(err) }
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { reject: 'bad_schema', detail: 'not an object' }
  // Theengs Gateway's presence messages ({"id","presence":"present"}) carry no signal: nothing to place.
  if (body.rssi === undefined && typeof body.presence === 'string') return { ignore: 'presence' }
  const rssi = num(body.rssi)
  if (rssi === undefined) return { reject: 'bad_schema', detail: 'rssi missing or not a number' }
  // No receiver reports 0 dBm or more from a real advertisement (that is the transmitter's power a
  // metre away or closer, saturating any radio): a 0 is a placeholder, not a reading.
  if (Math.round(rssi) >= 0) return { reject: 'rssi_range', detail: String(rssi).slice(0, 20) }
  const reading = r.kind === 'esp' ? espresense(body) : theengs(body, topic)
  if (reading === undefined) return { reject: 'bad_schema', detail: 'no device id' }
  const { id, tx, mac, random } = reading
  // No timestamps in these formats: the gateway stamps them on arrival (event time in replay).
  const out = {
    t: 'ble',
    id,
    rssi: Math.round(rssi),
    ...(tx !== undefined && tx >= -127 && tx <= 20 ? { tx } : {}),
    ...(mac !== undefined ? { mac } : {}),
    ...(random !== undefined ? { random } : {})
  }
  return { topic: topics.readings(prefix, storeId, r.sensor), payload: Buffer.from(JSON.stringify({ readings: [out] })) }
}

interface Parsed {
  id: string
  tx?: number
  mac?: string
  random?: boolean
}

/** ESPresense (BleFingerprint::fill): `id` in its own forms, `mac` beside it, `rssi@1m`. */
function espresense(body: Record<string, unknown>): Parsed | undefined {
  if (typeof body.id !== 'string' || body.id === '') return undefined
  return { id: body.id, tx: num(body['rssi@1m']), ...(typeof body.mac === 'string' ? { mac: body.mac } : {}) }
}

/** Theengs decoder JSON: an iBeacon by its uuid/major/minor, anything else by its address. */
function theengs(body: Record<string, unknown>, topic: string): Parsed | undefined {
  const major = num(body.major)
  const minor = num(body.minor)
  const ib = typeof body.uuid === 'string' && major !== undefined && minor !== undefined ? ibeaconId(body.uuid, major, minor) : undefined
  // Older decoders give the iBeacon's power byte unsigned (`power`); newer ones `txpower`, signed.
  const p = num(body.txpower) ?? num(body.power)
  const tx = p !== undefined && p > 127 ? p - 256 : p
  const id = ib ?? (typeof body.id === 'string' ? body.id : topic.slice(topic.lastIndexOf('/') + 1))
  // OpenMQTTGateway's address type (0 public, 1 random): whether the address rotates depends on it.
  const mt = num(body.mac_type)
  return id === '' ? undefined : { id, ...(tx !== undefined ? { tx } : {}), ...(mt === 0 || mt === 1 ? { random: mt === 1 } : {}) }
}
