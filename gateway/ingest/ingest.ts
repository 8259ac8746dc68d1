// Ingest (contract §2): topic and payload → typed, validated readings. Pure: no clock, no state.
// Every refusal carries a specific reason from a fixed list (the metrics' label values).
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { ReadingsBatch, ScansMessage, RSSI_MIN, RSSI_MAX } from '../../shared/messages.ts'
import { type Detail, SubjectHasher, isMac, isRandomizedMac, rawDetail } from './subjects.ts'
import { RESERVED_ID } from '../../shared/eid.ts'
import { SUBJECT } from '../../shared/events.ts'
import type { IdentityResolver } from './identity.ts'
import { type BleIdentity, bleIdentity } from './sensor-ids.ts'
import { beaconKey } from './site-beacons.ts'
import { jsonError } from './foreign.ts'

export const REJECT_REASONS = [
  'bad_topic',
  'wrong_store',
  'unknown_sensor',
  'oversized',
  'bad_json',
  'bad_schema',
  'rssi_range',
  'bad_mac',
  'bad_id',
  'bad_ts',
  'late',
  'unknown_beacon',
  'bad_status',
  'reserved_id'
] as const
export type RejectReason = (typeof REJECT_REASONS)[number]

export interface Reading {
  subject: string
  source: 'ble' | 'wifi'
  sensor: string
  ts: number
  rssi: number
  /** A randomized (locally administered) MAC: expect it to rotate. */
  randomized: boolean
  seq?: number
  /** Wi-Fi: the probe's information-element fingerprint, when the sniffer reports one. */
  fp?: string
  /** BLE: the advertiser's measured power at 1 m, dBm, when its adverts carry it. */
  tx?: number
  /** Set when the transmitter is one of the site's fixed beacons (a known position). */
  beacon?: string
}

export type Ingested =
  | {
      kind: 'readings'
      sensor: string
      ts: number | null
      readings: Reading[]
      rejected: Array<{ reason: RejectReason; detail: Detail }>
      /** Fingerprints (`fp`) that were or held a MAC address, hashed before use (fingerprint below). */
      hashedFps: number
    }
  | { kind: 'status'; sensor: string; online: boolean }
  | {
      kind: 'scans'
      device: string
      randomized: boolean
      ts: number | null
      beacons: Array<{ id: string; rssi: number }>
      rejected: Array<{ reason: RejectReason; detail: Detail }>
    }
  | { kind: 'rejected'; reason: RejectReason; detail: Detail }

export interface IngestContext {
  prefix: string
  storeId: string
  sensors: ReadonlySet<string>
  beacons: ReadonlySet<string>
  hasher: SubjectHasher
  /** Largest accepted payload, bytes. */
  maxBytes: number
  /** Resolves apps' rotating EIDs to their subjects (absent: every EID is anonymous). */
  identity?: IdentityResolver
  /**
   * The gateway's time at which an EID heard with this claimed timestamp resolves
   * (GatewayClock.identityTime): never the claim itself in wall mode.
   */
  identityTime: (ts: number | null) => number
}

const checkBatch = TypeCompiler.Compile(ReadingsBatch)
const checkScans = TypeCompiler.Compile(ScansMessage)
/** Millisecond timestamps from 2001 to 2286: anything else is a unit or clock mistake. */
const validTs = (ts: number | undefined): boolean => ts === undefined || (Number.isFinite(ts) && ts > 1e12 && ts < 1e13)
/** Ids become topic levels: no MQTT wildcards or separators, no control characters. */
// eslint-disable-next-line no-control-regex
const BAD_ID = /[/+#\u0000-\u001f]/
const EID_ID = /^eid:[0-9a-f]{16}$/
/** What an event's subject may be (shared/events.ts, the schema the central server checks). */
const SUBJECT_RE = new RegExp(SUBJECT)

/**
 * The subject of a self-named BLE id (a reading's, or a phone-scan topic's device id): a MAC is
 * hashed; an EID resolves to its app's subject, or, unresolvable, becomes an anonymous hashed
 * subject that is expected to rotate; a device id the central server issued (a bare uuid) is its
 * device's `app:` subject or anonymous (deviceIdentity); anything else is its own subject. A reading may never claim
 * a subject namespace the gateway assigns (`app:`, `h:`): that would let a stranger speak for a
 * registered shopper. Foreign id forms go through the one classification in
 * gateway/ingest/sensor-ids.ts. `mac`: the advertiser's address, when the sensor sent one beside a
 * class id. `id` (returned): the stable identity, to recognise the site's beacons.
 */
function bleSubject(
  id: string,
  mac: string | undefined,
  ts: number | null,
  ctx: IngestContext,
  random?: boolean,
  owner?: boolean
): { subject: string; randomized: boolean; id?: string } | { reason: RejectReason; detail: string } {
  const eid = eidForm(id)
  if (eid !== undefined) {
    if (typeof eid !== 'string') return eid
    const s = ctx.identity?.resolve(eid, ctx.identityTime(ts)) ?? null
    return s !== null ? { subject: s, randomized: false } : { subject: ctx.hasher.anonymous(`eid:${eid}`), randomized: true }
  }
  // A reading (owner undefined) may name a site beacon by its uuid: that comes first, a beacon is no shopper.
  const who = bleIdentity(id, mac, ctx.hasher, random, uuid =>
    owner === undefined && ctx.beacons.has(uuid) ? { subject: uuid, anonymous: false, id: uuid } : deviceIdentity(uuid, ts, ctx, owner === true)
  )
  // A stable id goes on as the subject: one the central server's event schema would refuse (a
  // space, quotes, a reserved key) would make events no one can deliver, so it is refused here.
  if (!SUBJECT_RE.test(who.subject)) return { reason: 'bad_id', detail: 'not a subject (letters, digits and _.:@+=/- only)' }
  return { subject: who.subject, randomized: who.anonymous, ...(who.id !== undefined ? { id: who.id } : {}) }
}

/** Longest BLE id a sensor may send (the readings schema's bound, shared/messages.ts): ids become topic levels. */
const MAX_BLE_ID = 128

/** Who a device located by a source that estimates positions itself (Meraki) is, with a site beacon's key when it is one. */
export type SourcedSubject = { subject: string; randomized: boolean; beacon?: string } | { reason: RejectReason; detail: string }

/**
 * The subject of a device named outside an MQTT reading (Meraki's location estimates): through the
 * same checks as a reading's id, so no format can name an `app:` shopper, publish an id no topic can
 * carry, or take the site's own beacon for a shopper. BLE: the id's length, grammar, reserved
 * namespaces, EID resolution, MAC hashing; Wi-Fi: a MAC, hashed.
 */
export function sourcedSubject(t: 'ble' | 'wifi', id: string, ts: number, ctx: IngestContext): SourcedSubject {
  if (t === 'wifi') return isMac(id) ? { subject: ctx.hasher.hash(id), randomized: isRandomizedMac(id) } : { reason: 'bad_mac', detail: 'not a MAC address' }
  if (id.length === 0 || id.length > MAX_BLE_ID) return { reason: 'bad_id', detail: `ble id of ${id.length} characters` }
  const who = bleSubject(id, undefined, ts, ctx)
  if ('reason' in who) return who
  const key = who.id ?? who.subject
  return ctx.beacons.has(key) ? { ...who, beacon: key } : who
}

/** How long the anonymous subject of a device id lasts: 2^10 s, an app's EID period by default (shared/eid.ts). */
const ANON_DEVICE_PERIOD_MS = 1024_000

/**
 * A device id the central server issued (the id of a phone publishing scans, contract §2): its
 * device's `app:` subject when the material lists it with presence consent and `owner` (the
 * embedded broker authenticated the publisher as `phone:<this id>` on this id's scans topic), so
 * that consent and erasure, which name that subject, reach it. A device id is no secret: named by
 * anyone else (a reading, an open or external broker, Meraki, another login) it would let a
 * stranger act as that shopper. Otherwise (not the owner, unknown, no presence consent, erased) an
 * anonymous device, as an unresolvable EID is: counted, never a visit or an event; its subject
 * changes each period of gateway time, as the device's EIDs would, and the id is not remembered.
 */
function deviceIdentity(uuid: string, ts: number | null, ctx: IngestContext, owner: boolean): BleIdentity {
  const s = owner ? (ctx.identity?.resolveDevice(uuid) ?? null) : null
  if (!owner && ctx.identity) ctx.identity.devicesUnproven++
  if (s !== null) return { subject: s, anonymous: false }
  const t = ctx.identityTime(ts)
  const period = Number.isFinite(t) ? Math.floor(t / ANON_DEVICE_PERIOD_MS) : 0
  return { subject: ctx.hasher.anonymousOnce(`dev:${uuid}:${period}`), anonymous: true }
}

/**
 * An id's EID form, worked out once per id (an app phone's EID is heard by every sensor, every
 * second, for its whole rotation period): its 16 lower-case hex digits, a refusal, or undefined
 * for an id that is no EID (ids with a MAC in them go no further than subjects.ts: never kept
 * here). What it holds follows from the id alone, so it is shared by every gateway in a process.
 */
function eidForm(id: string): string | { reason: RejectReason; detail: string } | undefined {
  const known = eidForms.get(id)
  if (known !== undefined) return known
  if (BAD_ID.test(id)) return { reason: 'bad_id', detail: 'ble id' }
  if (RESERVED_ID.test(id)) return { reason: 'reserved_id', detail: id.slice(0, 4) }
  if (!/^eid:/i.test(id)) return undefined
  const lower = id.toLowerCase()
  const form = EID_ID.test(lower) ? lower.slice(4) : EID_REFUSED
  // Bounded: EIDs rotate without end. Emptied when full, which only costs working them out again.
  if (eidForms.size >= MAX_EID_FORMS) eidForms.clear()
  eidForms.set(id, form)
  return form
}
const EID_REFUSED = { reason: 'bad_id', detail: 'eid' } as const
const eidForms = new Map<string, string | typeof EID_REFUSED>()
const MAX_EID_FORMS = 20_000

/**
 * A topic's levels, split once per topic (a sensor's topic never changes). Bounded like the EID
 * forms, and only short topics are kept: a stranger's megabyte-long topics must not fill memory.
 */
function levels(topic: string): string[] {
  let parts = topicLevels.get(topic)
  if (parts === undefined) {
    parts = topic.split('/')
    if (topic.length > MAX_KEPT_TOPIC) return parts
    if (topicLevels.size >= 4096) topicLevels.clear()
    topicLevels.set(topic, parts)
  }
  return parts
}
const MAX_KEPT_TOPIC = 256
const topicLevels = new Map<string, string[]>()

function reject(reason: RejectReason, detail: Detail): Ingested {
  return { kind: 'rejected', reason, detail }
}

/** `login`: the publisher's login at the embedded broker (broker-auth.ts loginOf), when it has one. */
export function ingest(topic: string, payload: Buffer, ctx: IngestContext, login?: string): Ingested {
  const parts = levels(topic)
  if (parts.length !== 5 || parts[0] !== ctx.prefix) return reject('bad_topic', rawDetail(topic, 200))
  const [, store, kind, id, leaf] = parts
  if (store !== ctx.storeId) return reject('wrong_store', rawDetail(store, 100))
  if (payload.length > ctx.maxBytes) return reject('oversized', `${payload.length} bytes > ${ctx.maxBytes}`)
  if (kind === 'sensors') {
    if (!ctx.sensors.has(id)) return reject('unknown_sensor', rawDetail(id, 100))
    if (leaf === 'status') {
      const s = payload.toString().trim()
      if (s !== 'online' && s !== 'offline') return reject('bad_status', rawDetail(s, 50))
      return { kind: 'status', sensor: id, online: s === 'online' }
    }
    if (leaf !== 'readings') return reject('bad_topic', rawDetail(topic, 200))
    return readings(id, payload, ctx)
  }
  if (kind === 'devices' && leaf === 'scans') {
    if (id.length > 128) return reject('bad_id', 'device id')
    return scans(id, payload, ctx, login !== undefined && login === `phone:${id}`)
  }
  return reject('bad_topic', rawDetail(topic, 200))
}

type Decoded<T> = { ok: true; value: T } | { ok: false; rejected: Ingested }

/** JSON, then the schema, then the message timestamp: the shared front of every payload. */
function decode<T extends { ts?: number }>(
  payload: Buffer,
  check: { Check(v: unknown): v is T; Errors(v: unknown): { First(): { path: string; message: string } | undefined } },
  what: string
): Decoded<T> {
  let value: unknown
  try {
    value = JSON.parse(payload.toString())
  } catch (err) {
    return { ok: false, rejected: reject('bad_json', jsonError(err)) }
  }
  if (!check.Check(value)) {
    const e = check.Errors(value).First()
    return { ok: false, rejected: reject('bad_schema', e ? `${e.path || '/'}: ${e.message}` : 'invalid') }
  }
  if (!validTs(value.ts)) return { ok: false, rejected: reject('bad_ts', `${what} ts ${String(value.ts)}`) }
  return { ok: true, value }
}

const rssiOk = (v: number): boolean => Number.isFinite(v) && v >= RSSI_MIN && v <= RSSI_MAX

function readings(sensor: string, payload: Buffer, ctx: IngestContext): Ingested {
  const d = decode(payload, checkBatch, 'batch')
  if (!d.ok) return d.rejected
  const batch = d.value
  const out: Reading[] = []
  const rejected: Array<{ reason: RejectReason; detail: Detail }> = []
  let hashedFps = 0
  for (const r of batch.readings) {
    const ts = r.ts ?? batch.ts
    if (!rssiOk(r.rssi)) {
      rejected.push({ reason: 'rssi_range', detail: String(r.rssi) })
      continue
    }
    if (!validTs(ts)) {
      rejected.push({ reason: 'bad_ts', detail: String(ts) })
      continue
    }
    if (r.t === 'ble') {
      const who = bleSubject(r.id, r.mac, ts ?? null, ctx, r.random)
      if ('reason' in who) {
        rejected.push(who)
        continue
      }
      // Optional fields set only when present (no spread of a throwaway object a reading).
      const reading: Reading = { subject: who.subject, source: 'ble', sensor, ts: ts ?? NaN, rssi: r.rssi, randomized: who.randomized }
      if (r.tx !== undefined) reading.tx = r.tx
      // A site beacon is keyed as its readings are (site-beacons.ts): its contract id, or its hashed MAC.
      const key = who.id ?? who.subject
      if (ctx.beacons.has(key)) reading.beacon = key
      out.push(reading)
    } else {
      if (!isMac(r.mac)) {
        rejected.push({ reason: 'bad_mac', detail: 'not a MAC address' })
        continue
      }
      const reading: Reading = { subject: ctx.hasher.hash(r.mac), source: 'wifi', sensor, ts: ts ?? NaN, rssi: r.rssi, randomized: isRandomizedMac(r.mac) }
      if (r.seq !== undefined) reading.seq = r.seq
      if (r.fp !== undefined) {
        reading.fp = fingerprint(r.fp, ctx.hasher)
        hashedFps++
      }
      out.push(reading)
    }
  }
  return { kind: 'readings', sensor, ts: batch.ts ?? null, readings: out, rejected, hashedFps }
}

/**
 * A probe fingerprint as the gateway may keep it. It is free text from the sniffer, and people
 * counting keeps places per fingerprint on disk (people-learned.ts); a sniffer may put the device's
 * address in it in any spelling (padded to 64 bits, as an EUI-64, with a counter after it, run
 * into a hex word), and no recogniser finds them all. So every fingerprint is hashed with the
 * store secret, in a namespace of its own (never equal to a subject): the same fingerprint still
 * gives the same value, which is all people counting asks of it, and a hashed value never holds
 * an address.
 */
export function fingerprint(fp: string, hasher: SubjectHasher): string {
  return hasher.anonymous(`fp:${fp}`)
}

function scans(device: string, payload: Buffer, ctx: IngestContext, owner: boolean): Ingested {
  const d = decode(payload, checkScans, 'scan')
  if (!d.ok) return d.rejected
  const msg = d.value
  const who = bleSubject(device, undefined, msg.ts ?? null, ctx, undefined, owner)
  if ('reason' in who) return reject(who.reason, `device id: ${who.detail}`)
  const beacons: Array<{ id: string; rssi: number }> = []
  const rejected: Array<{ reason: RejectReason; detail: Detail }> = []
  for (const b of msg.beacons) {
    const key = beaconKey(b.id, ctx.hasher)
    if (key === undefined || !ctx.beacons.has(key)) {
      rejected.push({ reason: 'unknown_beacon', detail: rawDetail(b.id, 100) })
      continue
    }
    if (!rssiOk(b.rssi)) {
      rejected.push({ reason: 'rssi_range', detail: String(b.rssi) })
      continue
    }
    beacons.push({ id: key, rssi: b.rssi })
  }
  return { kind: 'scans', device: who.subject, randomized: who.randomized, ts: msg.ts ?? null, beacons, rejected }
}
