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

/**
 * Whether `topic` falls under `pattern` (MQTT wildcards in the pattern). A subscription filter
 * is checked as a topic: its own `+` or `#` levels must be covered by the pattern's.
 */
export function topicMatches(pattern: string, topic: string): boolean {
  const p = pattern.split('/')
  const t = topic.split('/')
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '#') return true
    if (i >= t.length) return false
    if (t[i] === '#') return false
    if (p[i] !== '+' && p[i] !== t[i]) return false
  }
  return p.length === t.length
}

/** A Mosquitto `acl_file` section for one sensor user (`user` lines, then `topic` lines). */
export function mosquittoAcl(user: string, acl: Acl, extra: Acl = { publish: [], subscribe: [] }): string {
  const lines = [`user ${user}`]
  for (const t of [...acl.publish, ...extra.publish]) lines.push(`topic write ${t}`)
  for (const t of [...acl.subscribe, ...extra.subscribe]) lines.push(`topic read ${t}`)
  return lines.join('\n') + '\n'
}
