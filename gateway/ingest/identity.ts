// Resolving apps' rotating Eddystone-EIDs (shared/eid.ts) to their stable subjects `app:<hex>`.
// The material comes from the central server (per-device temporary keys of the current and next
// epoch, for devices with presence consent only) or, standalone, from a devices file written by
// the simulator (identity keys). A device absent from the material is unresolvable by
// construction: its EIDs become anonymous subjects that count in occupancy and open no visit.
// An EID is looked up in the rotation quanta before, at and after the GATEWAY's time (the arrival
// time live, the trace's time in a replay; never a sender's claim), so a phone whose clock is off
// by less than one rotation period still resolves, and an EID recorded earlier and replayed later
// stays anonymous. Tables are only built near the newest time seen, so no reading can make the
// gateway compute tables for arbitrary periods.
import { readFileSync, statSync } from 'node:fs'
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { DeviceMaterialT } from '../../shared/gateway-config.ts'
import { counterAt, deviceIdDigest, epochOf, quantumOf, quantumStart, temporaryKey, eidFromTemporaryKey, KEY_HEX } from '../../shared/eid.ts'

export type { DeviceMaterialT }

/** A devices file (simulator output, `--devices`): each app phone's subject, identity key, K and consent. */
export const DevicesFile = Type.Array(
  Type.Object({
    subject: Type.String({ pattern: '^app:[0-9a-f]{1,32}$' }),
    key: Type.String({ pattern: KEY_HEX.source }),
    k: Type.Integer({ minimum: 0, maximum: 15 }),
    consent: Type.Object({ presence: Type.Boolean(), marketing: Type.Boolean() })
  }),
  { maxItems: 1_000_000 }
)
export type DevicesFileT = Static<typeof DevicesFile>

const checkFile = TypeCompiler.Compile(DevicesFile)

/** Reads and checks a devices file; throws with the first problem. */
export function loadDevicesFile(path: string): DevicesFileT {
  const v: unknown = JSON.parse(readFileSync(path, 'utf8'))
  if (!checkFile.Check(v)) {
    const e = checkFile.Errors(v).First()
    throw new Error(`${path}: ${e ? `${e.path || '/'}: ${e.message}` : 'invalid devices file'}`)
  }
  return v
}

/**
 * The permission bits (e.g. 0o644) of a devices file that its group or others can read, or null
 * when only its owner can: the identity keys in it let anyone follow those phones.
 */
export function devicesFileExposure(path: string): number | null {
  const mode = statSync(path).mode & 0o777
  return (mode & 0o044) !== 0 ? mode : null
}

/** Resolution material for a devices file: devices with presence consent only. */
export function materialFromFile(devices: DevicesFileT): DeviceMaterialT[] {
  return devices.filter(d => d.consent.presence).map(d => ({ subject: d.subject, k: d.k, key: d.key, marketing: d.consent.marketing }))
}

interface Entry {
  m: DeviceMaterialT
  idKey: Buffer | null
  tks: Map<number, Buffer>
}

/** Most lookup tables kept (one per rotation exponent and quantum). */
const MAX_TABLES = 12
/** Most EIDs whose last answer is remembered (randomized traffic is endless, the memory must not be). */
const MAX_ANSWERS = 20_000
/** The quanta an EID is looked up in, around the one of its time: at, before, after. */
const NEAR = [0, -1, 1] as const

/** An EID's last answer, and the quanta it was given for (the only inputs it depends on besides the material). */
interface Answer {
  subject: string | null
  quantum: number
  oldest: number
}

export class IdentityResolver {
  private readonly devices = new Map<string, Entry>()
  /** `${k}:${quantum}` → EID hex → subject, computed on first use. */
  private readonly tables = new Map<string, Map<string, string>>()
  /** The rotation exponents in use (most often just one), recomputed after a change. */
  private ks: number[] | null = null
  /** The newest gateway time seen, ms: tables are built only for the quanta around it. */
  private newestMs = -Infinity
  /**
   * EID hex → its last answer, with a single rotation exponent in use: every reading of a phone
   * in a quantum asks the same question, and the answer only changes with the quantum asked, the
   * oldest quantum still built, or the material (which empties it, so an erased subject is never
   * answered from here).
   */
  private readonly answers = new Map<string, Answer>()
  /** Device id digest (the material's `scan`) → subject: phones publishing scans under their device id. */
  private readonly byScan = new Map<string, string>()
  resolved = 0
  unresolved = 0
  /** Phone-scan device ids resolved to their subject, and left anonymous (unknown, or no presence consent). */
  devicesResolved = 0
  devicesUnresolved = 0
  /** Device ids named by anyone but their authenticated phone (a reading, an open broker, Meraki): anonymous, never looked up. */
  devicesUnproven = 0
  /** Lookup tables built (each costs one AES operation per device): the work readings cause. */
  tablesBuilt = 0

  /** Replaces all material. */
  replace(all: DeviceMaterialT[]): void {
    this.devices.clear()
    this.byScan.clear()
    this.tables.clear()
    this.answers.clear()
    this.ks = null
    for (const m of all) this.put(m)
  }

  /** Adds or replaces one device's material. */
  upsert(m: DeviceMaterialT): void {
    this.put(m)
  }

  /** Forgets a device (consent withdrawn, erased). */
  remove(subject: string): void {
    const scan = this.devices.get(subject)?.m.scan
    if (scan !== undefined) this.byScan.delete(scan)
    if (this.devices.delete(subject)) {
      this.tables.clear()
      this.answers.clear()
      this.ks = null
    }
  }

  has(subject: string): boolean {
    return this.devices.has(subject)
  }
  /** Every device's material as held now (to keep it across a restart while the server is away). */
  all(): DeviceMaterialT[] {
    return [...this.devices.values()].map(e => e.m)
  }
  get size(): number {
    return this.devices.size
  }
  /** Subjects with marketing consent. */
  marketing(subject: string): boolean {
    return this.devices.get(subject)?.m.marketing === true
  }

  private put(m: DeviceMaterialT): void {
    const tks = new Map<number, Buffer>()
    for (const [e, hex] of Object.entries(m.tks ?? {})) tks.set(Number(e), Buffer.from(hex, 'hex'))
    const was = this.devices.get(m.subject)?.m.scan
    if (was !== undefined) this.byScan.delete(was)
    if (m.scan !== undefined) this.byScan.set(m.scan, m.subject)
    this.devices.set(m.subject, { m, idKey: m.key !== undefined ? Buffer.from(m.key, 'hex') : null, tks })
    this.tables.clear()
    this.answers.clear()
    this.ks = null
  }

  /**
   * The subject of a device id the central server issued (in deviceIdForm), or null: a device it
   * lists with presence consent is its `app:` subject, the same one its EIDs resolve to, which
   * consent and erasure name. Nothing is remembered about the id (an erased device leaves no trace).
   */
  resolveDevice(deviceId: string): string | null {
    const s = this.byScan.size > 0 ? (this.byScan.get(deviceIdDigest(deviceId)) ?? null) : null
    if (s !== null) this.devicesResolved++
    else this.devicesUnresolved++
    return s
  }

  /**
   * The subject an EID (16 hex digits) heard at gateway time `ms` belongs to, or null. `ms` must be
   * the gateway's time (GatewayClock.identityTime), never a sender's timestamp.
   */
  resolve(eidHex: string, ms: number): string | null {
    if (!Number.isFinite(ms) || this.devices.size === 0) {
      this.unresolved++
      return null
    }
    if (ms > this.newestMs) this.newestMs = ms
    const counter = counterAt(ms)
    const newest = counterAt(this.newestMs)
    this.ks ??= [...new Set([...this.devices.values()].map(e => e.m.k))]
    if (this.ks.length === 1) {
      // quantumOf(counter, k), with 2^k worked out once: exact, as a power of two is.
      const scale = this.scaleOf(this.ks[0])
      const q = Math.floor(counter / scale)
      const oldest = Math.floor(newest / scale) - 2
      const a = this.answers.get(eidHex)
      if (a !== undefined && a.quantum === q && a.oldest === oldest) return this.answered(a.subject)
      const subject = this.lookUp(eidHex, counter, newest)
      if (a !== undefined) {
        a.subject = subject
        a.quantum = q
        a.oldest = oldest
      } else {
        if (this.answers.size >= MAX_ANSWERS) this.answers.delete(this.answers.keys().next().value as string)
        this.answers.set(eidHex, { subject, quantum: q, oldest })
      }
      return this.answered(subject)
    }
    return this.answered(this.lookUp(eidHex, counter, newest))
  }

  private scale = { k: NaN, v: 1 }
  private scaleOf(k: number): number {
    if (this.scale.k !== k) this.scale = { k, v: 2 ** k }
    return this.scale.v
  }

  /** Whether an answer is held for an EID (erasure tests: none may outlive its subject's material). */
  remembers(eidHex: string): boolean {
    return this.answers.has(eidHex)
  }

  private answered(subject: string | null): string | null {
    if (subject !== null) this.resolved++
    else this.unresolved++
    return subject
  }

  /** The tables' answer for an EID at counter `counter`, the newest counter being `newest`. */
  private lookUp(eidHex: string, counter: number, newest: number): string | null {
    for (const k of this.ks ?? []) {
      const q = quantumOf(counter, k)
      // A time older than the quantum before the newest one (a late reading in a replay) would
      // build tables for past periods again and again: it stays unresolved.
      const oldest = quantumOf(newest, k) - 2
      for (const dq of NEAR) {
        if (q + dq < oldest) continue
        const s = this.table(k, q + dq).get(eidHex)
        if (s !== undefined) return s
      }
    }
    return null
  }

  private table(k: number, quantum: number): Map<string, string> {
    const key = `${k}:${quantum}`
    let t = this.tables.get(key)
    if (t) return t
    t = new Map()
    this.tablesBuilt++
    const counter = quantumStart(quantum, k)
    const epoch = epochOf(counter)
    for (const e of this.devices.values()) {
      if (e.m.k !== k) continue
      let tk = e.tks.get(epoch)
      if (tk === undefined && e.idKey !== null) {
        // Derived keys are a cache: a few epochs are enough, a multi-day replay must not pile them up.
        if (e.tks.size >= 4) e.tks.clear()
        tk = temporaryKey(e.idKey, epoch)
        e.tks.set(epoch, tk)
      }
      if (tk === undefined) continue
      t.set(eidFromTemporaryKey(tk, k, counter).toString('hex'), e.m.subject)
    }
    if (this.tables.size >= MAX_TABLES) this.tables.delete(this.tables.keys().next().value as string)
    this.tables.set(key, t)
    return t
  }
}
