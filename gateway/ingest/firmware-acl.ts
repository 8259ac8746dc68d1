// What each upstream firmware really publishes and subscribes to besides its readings, as MQTT
// topic patterns for one sensor. The embedded broker allows exactly these (accepted, and ignored
// by the gateway); the same templates render a Mosquitto ACL file for stores on their own broker.
// Sources: ESPresense `src/main.cpp` (rooms/status will, telemetry, settings, set topics) and
// `src/mqtt.cpp` (Home Assistant discovery); OpenMQTTGateway `main/User_config.h` (will_Topic
// `/LWT`, subjectSYStoMQTT, `/version`, subjectMQTTtoX `/commands/#`); Theengs Gateway
// `TheengsGateway/config.py` (publish_topic, lwt_topic, presence_topic, subscribe_topic).
import type { ForeignConfig } from './foreign.ts'

export const FIRMWARES = ['espresense', 'openmqttgateway', 'theengs'] as const
export type Firmware = (typeof FIRMWARES)[number]

export interface Acl {
  publish: string[]
  subscribe: string[]
}

/**
 * The topics a sensor running `fw` may use. `names` are what the firmware calls itself in topics
 * (ESPresense room, OpenMQTTGateway gateway name: the sensor's id and aliases); `theengs` the
 * publish_topics mapped to this sensor.
 */
export function firmwareAcl(fw: Firmware | undefined, names: string[], c: ForeignConfig, theengs: string[]): Acl {
  const publish: string[] = []
  const subscribe: string[] = []
  // Readings in the foreign formats are allowed to whoever the topic maps to, firmware named or not.
  for (const n of names) publish.push(`${c.espresense}/devices/+/${n}`, `${c.omg}/${n}/BTtoMQTT/+`)
  for (const t of theengs) publish.push(`${t}/+`)
  if (fw === 'espresense') {
    for (const n of names) {
      publish.push(`${c.espresense}/rooms/${n}/#`, `${c.espresense}/devices/+/${n}/+`)
      subscribe.push(`${c.espresense}/rooms/${n}/+/set`)
    }
    // Enrollment writes device settings; every node listens for them and for all-room settings.
    publish.push(`${c.espresense}/settings/+/config`)
    subscribe.push(`${c.espresense}/rooms/*/+/set`, `${c.espresense}/settings/+/config`)
    publish.push('homeassistant/+/+/config', 'homeassistant/+/+/+/config')
  } else if (fw === 'openmqttgateway') {
    for (const n of names) {
      publish.push(`${c.omg}/${n}/#`)
      subscribe.push(`${c.omg}/${n}/commands/#`)
    }
    publish.push('homeassistant/+/+/config', 'homeassistant/+/+/+/config')
    subscribe.push('homeassistant/status')
  } else if (fw === 'theengs') {
    // Its readings and presence messages go to `<publish_topic>/<MAC>` (granted above); its
    // lwt_topic sits beside publish_topic by default (home/TheengsGateway/LWT). Only that exact
    // topic is granted: a wildcard on the parent would let one gateway write another's readings.
    for (const t of theengs) {
      const parent = t.includes('/') ? t.slice(0, t.lastIndexOf('/')) : t
      publish.push(`${parent}/LWT`)
      subscribe.push(`${t.split('/')[0]}/+/BTtoMQTT/undecoded`)
    }
    // Taken as an OpenMQTTGateway by its name (no publish_topic configured): its publish_topic is
    // `<root>/<name>/BTtoMQTT` and its default subscribe_topic `<root>/+/BTtoMQTT/undecoded`.
    for (const n of names) publish.push(`${c.omg}/${n}/#`)
    if (names.length > 0) subscribe.push(`${c.omg}/+/BTtoMQTT/undecoded`)
    publish.push('homeassistant/+/+/config', 'homeassistant/+/+/+/config')
  }
  return { publish, subscribe }
}

const HASH = 0x23
const PLUS = 0x2b

/**
 * Whether `topic` falls under `pattern` (MQTT wildcards in the pattern). A subscription filter
 * is checked as a topic: its own `+` or `#` levels must be covered by the pattern's.
 */
export function topicMatches(pattern: string, topic: string): boolean {
  // Level by level on the strings themselves: the broker asks this of every message it takes
  // (output-guard.ts, retain-guard.ts), so it splits nothing.
  let ps = 0
  let ts = 0 // the topic's current level starts here; -1 once its levels are used up
  for (;;) {
    let pe = pattern.indexOf('/', ps)
    if (pe < 0) pe = pattern.length
    const pl = pe - ps
    if (pl === 1 && pattern.charCodeAt(ps) === HASH) return true
    if (ts < 0) return false
    let te = topic.indexOf('/', ts)
    if (te < 0) te = topic.length
    const tl = te - ts
    if (tl === 1 && topic.charCodeAt(ts) === HASH) return false
    if (!(pl === 1 && pattern.charCodeAt(ps) === PLUS)) {
      if (pl !== tl) return false
      for (let k = 0; k < pl; k++) if (pattern.charCodeAt(ps + k) !== topic.charCodeAt(ts + k)) return false
    }
    ts = te === topic.length ? -1 : te + 1
    if (pe === pattern.length) return ts < 0
    ps = pe + 1
  }
}

/** A Mosquitto `acl_file` section for one sensor user (`user` lines, then `topic` lines). */
export function mosquittoAcl(user: string, acl: Acl, extra: Acl = { publish: [], subscribe: [] }): string {
  const lines = [`user ${user}`]
  for (const t of [...acl.publish, ...extra.publish]) lines.push(`topic write ${t}`)
  for (const t of [...acl.subscribe, ...extra.subscribe]) lines.push(`topic read ${t}`)
  return lines.join('\n') + '\n'
}
