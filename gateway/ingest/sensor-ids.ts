// What a BLE id says about the device behind it (contract §2, §4), whatever sensor heard it. The
// one place that decides, for every id form a sensor sends, whether the id is
// - stable: one device, the subject as-is, in contract form (`ibeacon:` lower-case uuid with
//   dashes, `eddystone:<namespace>:<instance>`, `irk:`, app and alias ids, a bare uuid);
// - a MAC: a bare address or an id that embeds one (ESPresense `known:`, `tile:`, `sonos:`, ...),
//   hashed exactly like the address itself, so the device heard as a raw MAC elsewhere is the same
//   subject and the address never goes further;
// - a class: an id many devices share (ESPresense `apple:`, `msft:`, `name:`, `exp:`, `md:`, ...).
//   Never a person: an anonymous device (positions and occupancy, no visits, no triggers), keyed
//   by the advertiser's hashed MAC when the sensor sends it.
// Id forms: ESPresense `src/BleFingerprint.cpp` (setId calls), Theengs decoder
// `src/devices/iBeacon_json.h` (uuid as 32 hex digits), the contract's own forms.
import { findMac, isMac, isPrivateBleAddress, normalizeMac, type SubjectHasher } from './subjects.ts'
import { deviceIdForm } from '../../shared/eid.ts'

export type BleId = { kind: 'stable'; id: string } | { kind: 'mac'; mac: string } | { kind: 'class'; id: string }

/** ESPresense prefixes whose rest is the advertiser's MAC (12 hex digits). */
const MAC_PREFIXES = new Set(['known', 'tile', 'sonos', 'itag', 'trackr', 'tractive', 'vanmoof', 'meater', 'nut', 'flora', 'mitherm', 'garmin', 'itrack', 'mifit', 'samsung'])
/** ESPresense prefixes naming a kind of device, not one device. `node:` is another ESPresense node. */
const CLASS_PREFIXES = new Set(['apple', 'msft', 'name', 'exp', 'smarttag', 'ad', 'sd', 'md', 'node'])

const UUID32 = /^[0-9a-f]{32}$/i
const UUID36 = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** A uuid in contract form (lower case, with dashes), or undefined when it is not one. */
export function normalizeUuid(u: string): string | undefined {
  if (UUID36.test(u)) return u.toLowerCase()
  if (!UUID32.test(u)) return undefined
  const h = u.toLowerCase()
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/** The contract id of an iBeacon, from its parts as any sensor sends them; undefined if malformed. */
export function ibeaconId(uuid: string, major: number, minor: number): string | undefined {
  const u = normalizeUuid(uuid)
  const ok = (n: number) => Number.isInteger(n) && n >= 0 && n <= 65535
  return u && ok(major) && ok(minor) ? `ibeacon:${u}:${major}:${minor}` : undefined
}

/**
 * ESPresense prints an Eddystone-UID namespace with its fifth byte twice (22 hex digits, see
 * `eddy:` in BleFingerprint.cpp); the real namespace is 20. Undone here so the id matches what
 * other sensors and the site file call the beacon.
 */
function eddystoneNamespace(ns: string): string | undefined {
  const h = ns.toLowerCase()
  if (/^[0-9a-f]{20}$/.test(h)) return h
  if (/^[0-9a-f]{22}$/.test(h) && h.slice(8, 10) === h.slice(10, 12)) return h.slice(0, 10) + h.slice(12)
  return undefined
}

/** Classifies one BLE id in any supported form. */
export function classifyBleId(raw: string): BleId {
  // A bare uuid names a device (the central server gives each app device one, and a phone in
  // phone-scan mode publishes under it), never an address: 12 of its digits would pass for a MAC,
  // hashing the phone into an `h:` subject, anonymous when they read as a private address.
  // (bleIdentity takes a reading's bare uuid as a device id before this; here it is a site beacon's,
  // keyed in the one form deviceIdForm gives a reading's, so it matches in any spelling.)
  const uuid = normalizeUuid(raw)
  if (uuid !== undefined) return { kind: 'stable', id: uuid }
  if (isMac(raw)) return { kind: 'mac', mac: normalizeMac(raw) }
  const colon = raw.indexOf(':')
  const prefix = colon > 0 ? raw.slice(0, colon).toLowerCase() : ''
  const rest = colon > 0 ? raw.slice(colon + 1) : raw
  if (prefix === 'ibeacon' || prefix === 'altbeacon') {
    // Contract `ibeacon:<uuid>:<major>:<minor>` or ESPresense `iBeacon:<uuid>-<major>-<minor>`.
    const m = /^([0-9a-f-]{32,36})[:-](\d{1,5})[:-](\d{1,5})$/i.exec(rest)
    const id = m ? ibeaconId(m[1], Number(m[2]), Number(m[3])) : undefined
    if (id) return { kind: 'stable', id: prefix === 'ibeacon' ? id : 'alt' + id.slice(1) }
  }
  if (prefix === 'eddy' || prefix === 'eddystone') {
    const m = /^([0-9a-f]{20,22})[:-]([0-9a-f]{12})$/i.exec(rest)
    const ns = m ? eddystoneNamespace(m[1]) : undefined
    if (m && ns) return { kind: 'stable', id: `eddystone:${ns}:${m[2].toLowerCase()}` }
  }
  // An EID or an irk id names a device by a key or an ephemeral id, never by its address: whatever
  // its digits look like, hashing it as a MAC would cut it from the device it names.
  if (prefix === 'eid' || prefix === 'irk') return { kind: 'stable', id: raw }
  if (MAC_PREFIXES.has(prefix) && isMac(rest)) return { kind: 'mac', mac: normalizeMac(rest) }
  if (CLASS_PREFIXES.has(prefix)) return { kind: 'class', id: raw }
  // Any other form (an alias, an app id) is one device, unless it carries an address.
  const embedded = findMac(raw)
  if (embedded !== undefined) return { kind: 'mac', mac: embedded }
  return { kind: 'stable', id: raw }
}

/** Who a BLE reading is: its subject, whether it is anonymous, and its stable id if any. */
export interface BleIdentity {
  subject: string
  /** Never one person over time: positions and counts only (randomized MACs, class ids). */
  anonymous: boolean
  /** The contract-form id when the device has one (matches the site's fixed beacons). */
  id?: string
}

/** Who a device id the central server issued is (`uuid` in deviceIdForm). */
export type DeviceIdLookup = (uuid: string) => BleIdentity

/**
 * The identity of a BLE reading: `id` as the sensor sent it, `mac` the advertiser's address when
 * the sensor sent one beside the id (ESPresense does). A class id is keyed by that address,
 * hashed; without one, all devices of the class share one anonymous subject. A bare uuid is the
 * form of a device id the central server issued (a phone-scan phone publishes under it): `device`
 * says whose it is (its `app:` subject when the gateway's material lists it with presence
 * consent); without a lookup it is anonymous. Never a subject as-is: consent and erasure name the
 * device's `app:` subject only, so a device id kept as a subject escaped both (tester s13 G).
 */
export function bleIdentity(raw: string, mac: string | undefined, hasher: SubjectHasher, random?: boolean, device?: DeviceIdLookup): BleIdentity {
  const uuid = deviceIdForm(raw)
  if (uuid !== undefined) return device ? device(uuid) : { subject: hasher.anonymousOnce(`dev:${uuid}`), anonymous: true }
  const c = classifyBleId(raw)
  if (c.kind === 'stable') return { subject: c.id, anonymous: false, id: c.id }
  if (c.kind === 'mac') return { subject: hasher.hash(c.mac), anonymous: isPrivateBleAddress(c.mac, random) }
  return { subject: mac !== undefined && isMac(mac) ? hasher.hash(mac) : hasher.hash(`class:${c.id}`), anonymous: true }
}
