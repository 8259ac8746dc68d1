// The device list of a whole config, kept between pulls and followed change by change: a new
// version (a registration, a consent changed, an erasure) costs the devices that changed since the
// kept one, not the whole list (re-tester, s11: one device toggling its consent made every whole
// pull rebuild 60,000 devices). Only a new epoch, whose temporary keys are all new, builds it anew.
// The list is held as pages, each serialised once into a Buffer; every reply of one version sends
// the same Buffers, so replies not yet read by their gateways share one copy of the list.
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { Db } from './db/db.ts'
import { deviceIdDigest, temporaryKeyPairHex } from '../shared/eid.ts'

export interface DeviceRow {
  device_id: string
  subject: string
  identity_key: string
  k: number
  marketing: number
}

/** A device's row as a change: listed when it has presence consent and a key, else left out. */
export interface ChangedRow {
  device_id: string
  subject: string
  identity_key: string | null
  k: number
  marketing: number
  presence: number
}

/** Devices whose material is made between two turns of the event loop, and devices a page holds. */
export const PAGE = 500

/**
 * A device's material as JSON, exactly as JSON.stringify of its DeviceMaterialT: written by hand,
 * and both temporary keys from one cipher, because a whole list makes this 100,000 times in a row.
 */
export function materialJson(d: DeviceRow, epoch: number): string {
  const tks = temporaryKeyPairHex(Buffer.from(d.identity_key, 'hex'), epoch)
  return `{"subject":${JSON.stringify(d.subject)},"k":${d.k},"marketing":${d.marketing === 1},"tks":{"${epoch}":"${tks.slice(0, 32)}","${epoch + 1}":"${tks.slice(32)}"},"scan":"${deviceIdDigest(d.device_id)}"}`
}

/** What a device's material is made of: the same key, the same material. */
const keyOf = (d: DeviceRow) => `${d.identity_key} ${d.k} ${d.marketing}`

/** A whole list at one version, as the JSON array's bytes: Buffers every reply of it shares. */
export interface ListAt {
  seq: number
  epoch: number
  parts: readonly Buffer[]
  bytes: number
}

interface Page {
  items: Map<string, { key: string; json: string }>
  /** The page's materials joined by commas, or null once a change made it stale. */
  buf: Buffer | null
}

const OPEN = Buffer.from('[')
const COMMA = Buffer.from(',')
const CLOSE = Buffer.from(']')

export class KeptList {
  private readonly pages: Page[] = []
  private readonly pageOf = new Map<string, Page>()
  private at: ListAt

  private constructor(
    private seq: number,
    readonly epoch: number
  ) {
    this.at = { seq, epoch, parts: [OPEN, CLOSE], bytes: 2 }
  }

  /** The list of every listed device (`rows`, in their order) at version `seq`, epoch `epoch`. */
  static async build(rows: DeviceRow[], seq: number, epoch: number): Promise<KeptList> {
    const l = new KeptList(seq, epoch)
    for (let i = 0; i < rows.length; i++) {
      if (i > 0 && i % PAGE === 0) await nextTurn()
      l.put(rows[i])
    }
    await l.serialise()
    return l
  }

  /** The list as it is now. */
  get current(): ListAt {
    return this.at
  }

  /** A device's material as listed now, if listed with the same key (the memo of delta replies). */
  material(d: DeviceRow): string | undefined {
    const e = this.pageOf.get(d.subject)?.items.get(d.subject)
    return e !== undefined && e.key === keyOf(d) ? e.json : undefined
  }

  /**
   * Moves the list to version `seq`: `rows` are the devices changed since the kept version (as
   * they are now), `gone` the subjects erased since. Replies already given the list keep theirs.
   */
  async follow(rows: ChangedRow[], gone: string[], seq: number): Promise<ListAt> {
    for (let i = 0; i < rows.length; i++) {
      if (i > 0 && i % PAGE === 0) await nextTurn()
      const r = rows[i]
      if (r.presence === 1 && r.identity_key !== null) this.put({ device_id: r.device_id, subject: r.subject, identity_key: r.identity_key, k: r.k, marketing: r.marketing })
      else this.drop(r.subject)
    }
    for (const s of gone) this.drop(s)
    this.seq = seq
    return await this.serialise()
  }

  private put(d: DeviceRow): void {
    const key = keyOf(d)
    const had = this.pageOf.get(d.subject)
    if (had !== undefined && had.items.get(d.subject)?.key === key) return
    const page = had ?? this.lastPage()
    page.items.set(d.subject, { key, json: materialJson(d, this.epoch) })
    page.buf = null
    this.pageOf.set(d.subject, page)
  }

  private drop(subject: string): void {
    const page = this.pageOf.get(subject)
    if (page === undefined) return
    page.items.delete(subject)
    page.buf = null
    this.pageOf.delete(subject)
  }

  /** The page a new device goes to: the last one until it is full. */
  private lastPage(): Page {
    const last = this.pages.at(-1)
    if (last !== undefined && last.items.size < PAGE) return last
    const page: Page = { items: new Map(), buf: null }
    this.pages.push(page)
    return page
  }

  /** Serialises the stale pages again (empty ones are let go) and makes the list's parts. */
  private async serialise(): Promise<ListAt> {
    const parts: Buffer[] = [OPEN]
    let bytes = 2
    let made = 0
    for (let i = 0; i < this.pages.length; i++) {
      const page = this.pages[i]
      if (page.items.size === 0 && i < this.pages.length - 1) {
        this.pages.splice(i--, 1)
        continue
      }
      if (page.buf === null) {
        if (made > 0 && made % 20 === 0) await nextTurn()
        page.buf = Buffer.from([...page.items.values()].map(e => e.json).join(','))
        made++
      }
      if (page.buf.length === 0) continue
      if (parts.length > 1) {
        parts.push(COMMA)
        bytes++
      }
      parts.push(page.buf)
      bytes += page.buf.length
    }
    parts.push(CLOSE)
    this.at = { seq: this.seq, epoch: this.epoch, parts, bytes }
    return this.at
  }
}

/** The devices changed past version `after`, listed or not, as they are now. */
export function changedSince(db: Db, after: number) {
  return db.selectFrom('devices').select(['device_id', 'subject', 'identity_key', 'k', 'marketing', 'presence']).where('version', '>', after).orderBy('subject')
}
