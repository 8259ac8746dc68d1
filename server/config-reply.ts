// The body of GET /v1/stores/{id}/config, built so that no pull can hold the server's one event
// loop for long, whoever sends it and however often:
// - the device list of a whole config is the same for every store: it is built once per epoch
//   and kept (config-list.ts), a new version moves it by the devices changed since, and a store's
//   reply only adds its site, campaigns and erasures around its shared Buffers;
// - the ETag of a whole reply comes from what it is made of (store, version, erasures), not from
//   hashing megabytes of body, so a 304 of a kept list costs a few small queries;
// - lists are built a page at a time, yielding to other requests between pages;
// - one token has one pull in progress at a time, until its reply is sent or its connection
//   closes: another is refused (429, counted);
// - a whole reply whose list is not built yet is streamed: its head at once, then a space (JSON
//   whitespace) every KEEP_ALIVE_MS until the list is ready, so a gateway that times out on a
//   silent link, not on a long body, waits for a list however long it takes to build.
import { createHash } from 'node:crypto'
import type { Db } from './db/db.ts'
import { configVersion } from './db/db.ts'
import { counterAt, epochOf } from '../shared/eid.ts'
import { changedSince, type DeviceRow, KeptList, type ListAt, materialJson, PAGE } from './config-list.ts'
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { Campaign } from '../shared/campaigns.ts'
import { MATERIAL_FORMAT, VERSION_RE } from './identity.ts'

export type ConfigReply =
  | { kind: 'bad_since'; reason: string }
  | { kind: 'busy' }
  | { kind: 'not_modified'; etag: string }
  /** The body is `parts` one after the other, `bytes` in all (the device list's parts shared with other replies). */
  | { kind: 'body'; etag: string; parts: readonly Buffer[]; bytes: number }
  /** The body is `head`, then `devices` once built, then `tail`. */
  | { kind: 'building'; etag: string; head: string; devices: Promise<readonly Buffer[]>; tail: string }

/** How often a streamed reply sends a space while its list is being built, ms (far below a gateway's stall timeout). */
export const KEEP_ALIVE_MS = 1000

/** One wait between keep-alive spaces: `wait` settles after `ms`, `cancel` drops it (a timer by default; tests inject their own). */
export type Tick = (ms: number) => { wait: Promise<void>; cancel: () => void }

const timerTick: Tick = ms => {
  let t: NodeJS.Timeout | undefined
  const wait = new Promise<void>(resolve => {
    t = setTimeout(resolve, ms)
  })
  return { wait, cancel: () => clearTimeout(t) }
}

/** Why a streamed reply stopped before its end: its list could not be built, or the client left. */
export type StreamCut = 'build_failed' | 'client_left'

export interface StreamOptions {
  /** A space every this often while the list is built, ms; default KEEP_ALIVE_MS. */
  everyMs?: number
  tick?: Tick
  /**
   * Called once when the reply stops before its end. A failed build reaches the client as a body
   * cut short (the 200 and its ETag are sent already): the server's log and /metrics say why.
   */
  onCut?: (why: StreamCut, err?: unknown) => void
}

/**
 * The body of a `building` reply, as it becomes known: the head, a space every `everyMs` while the
 * list is built, the list, the tail. A list that fails ends the body with that error (the response
 * is destroyed, never ended as if whole).
 */
export async function* streamed(r: { head: string; devices: Promise<string | readonly Buffer[]>; tail: string }, o: StreamOptions = {}): AsyncGenerator<string | Buffer> {
  const tick = o.tick ?? timerTick
  let ended = false
  let failed = false
  try {
    yield r.head
    let done = false
    const list = r.devices.finally(() => {
      done = true
    })
    // Settles the race either way; the failure itself is thrown below, where the list is awaited.
    const settled = list.then(
      () => false,
      () => false
    )
    while (!done) {
      const t = tick(o.everyMs ?? KEEP_ALIVE_MS)
      const ticked = await Promise.race([settled, t.wait.then(() => true)])
      t.cancel()
      if (ticked) yield ' '
    }
    let devices: string | readonly Buffer[]
    try {
      devices = await list
    } catch (err) {
      failed = true
      o.onCut?.('build_failed', err)
      throw err
    }
    if (typeof devices === 'string') yield devices
    else yield* devices
    yield r.tail
    ended = true
  } finally {
    // Reached without an end or a failure: the client went away (the stream was returned early).
    if (!ended && !failed) o.onCut?.('client_left')
  }
}

const tag = (s: string) => '"' + createHash('sha256').update(s).digest('base64url').slice(0, 27) + '"'

/** `{...head, devices, ...tail}` serialised as JSON.stringify would, with `devices` already JSON: the text before and after it. */
function around(head: object, tail: object): { head: string; tail: string } {
  return { head: JSON.stringify(head).slice(0, -1) + ',"devices":', tail: ',' + JSON.stringify(tail).slice(1) }
}

function assemble(head: object, devices: string, tail: object): string {
  const a = around(head, tail)
  return a.head + devices + a.tail
}

/**
 * The subjects erased past version `after` (up to `upTo`, at times past `tsAfter`), in order: the
 * query a config reply runs (its plan is checked by test/integration/erasure-index.test.ts).
 */
export function erasuresQuery(db: Db, after: number, upTo?: number, tsAfter?: number) {
  return db
    .selectFrom('erasures')
    .select('subject')
    .where('version', '>', after)
    .$if(upTo !== undefined, qb => qb.where('version', '<=', upTo ?? 0))
    .$if(tsAfter !== undefined, qb => qb.where('ts', '>', Math.floor(tsAfter ?? 0)))
    .orderBy('subject')
}

export class ConfigReplies {
  private kept: KeptList | null = null
  private building: Promise<ListAt> | null = null
  private readonly pulling = new Set<string>()

  constructor(
    private readonly db: Db,
    private readonly erasureWindowMs: number,
    private readonly now: () => number = Date.now,
    /** Called at each whole device list built anew (counted in /metrics); not when one is followed. */
    private readonly onBuild: () => void = () => {}
  ) {}

  /**
   * The reply to one pull by token `tokenId`: whole (no `since`, or one of another epoch) or what
   * changed since `since`; not_modified when `ifNoneMatch` is its ETag. The token's turn lasts until
   * `sent` settles (the reply sent, or its connection closed): a token's replies not yet read by
   * its client are at most one (re-tester, s11: 40 unread whole configs held +0.9 GB).
   */
  async pull(storeId: string, site: unknown, since: string | undefined, ifNoneMatch: string | undefined, tokenId: string, sent: Promise<unknown>): Promise<ConfigReply> {
    if (this.pulling.has(tokenId)) return { kind: 'busy' }
    this.pulling.add(tokenId)
    let r: ConfigReply | undefined
    try {
      r = await this.reply(storeId, site, since, ifNoneMatch)
      return r
    } finally {
      if (r?.kind === 'body' || r?.kind === 'building') sent.finally(() => this.pulling.delete(tokenId)).catch(() => {})
      else this.pulling.delete(tokenId)
    }
  }

  private async reply(storeId: string, site: unknown, since: string | undefined, ifNoneMatch: string | undefined): Promise<ConfigReply> {
    const db = this.db
    const nowMs = this.now()
    const seq = await configVersion(db)
    const epoch = epochOf(counterAt(nowMs))
    // Only this store's campaigns are read (campaign_stores, migration 007): one store's thousands
    // must not slow every other store's pull.
    const campaigns = (
      await db
        .selectFrom('campaigns')
        .select('body')
        .where('id', 'in', db.selectFrom('campaign_stores').select('campaign_id').where('store_id', '=', storeId))
        .orderBy('id')
        .execute()
    )
      .map(r => JSON.parse(r.body) as Campaign)
      .filter(c => c.stores.includes(storeId) && c.active !== false)
    const contentHash = createHash('sha256')
      .update(JSON.stringify([site, campaigns]))
      .digest('hex')
      .slice(0, 8)
    const version = (s: number) => `${s}.${epoch}.${contentHash}.m${MATERIAL_FORMAT}`
    let from: { seq: number; epoch: number; hash: string; format: number } | null = null
    if (since !== undefined) {
      const m = VERSION_RE.exec(since)
      if (!m) return { kind: 'bad_since', reason: `since '${since.slice(0, 40)}' is not a version this server gave` }
      from = { seq: Number(m[1]), epoch: Number(m[2]), hash: m[3], format: m[4] === undefined ? 1 : Number(m[4]) }
      if (from.seq > seq) return { kind: 'bad_since', reason: `since ${since} is ahead of this server (version ${version(seq)})` }
    }
    // A new epoch needs new temporary keys for every device: a whole reply, once a day or so. So does
    // a gateway holding device entries of another format (an upgrade: every entry is new to it).
    if (from === null || from.epoch !== epoch || from.format !== MATERIAL_FORMAT) {
      // Expired registrations (ts 0: never seen by a gateway) are left out: no gateway holds data about them.
      const erasures = await this.erasures(-1, seq, nowMs - this.erasureWindowMs)
      const head = { storeId, version: version(seq), full: true, site, campaigns }
      const tail = { removed: [], erasures }
      // The ETag is known before the list: a 304 builds nothing.
      const etag = tag(JSON.stringify(['full', head, tail]))
      if (ifNoneMatch === etag) return { kind: 'not_modified', etag }
      const a = around(head, tail)
      const ready = this.ready(seq, epoch)
      if (ready !== null) return whole(etag, a, ready)
      return { kind: 'building', etag, ...a, devices: this.devicesAt(seq, epoch).then(l => l.parts) }
    }
    const after = from.seq
    const rows = (await this.listed().where('version', '>', after).orderBy('subject').execute()) as DeviceRow[]
    const head = { storeId, version: version(seq), full: false, ...(from.hash !== contentHash ? { site, campaigns } : {}) }
    const tail = {
      // Only subjects a gateway may have been given: a device that never consented is never named.
      removed: (await db.selectFrom('devices').select('subject').where('presence', '=', 0).where('listed', '=', 1).where('version', '>', after).orderBy('subject').execute()).map(
        r => r.subject
      ),
      erasures: await this.erasures(after)
    }
    const body = assemble(head, await this.materials(rows, epoch), tail)
    const etag = tag(body)
    if (ifNoneMatch === etag) return { kind: 'not_modified', etag }
    const buf = Buffer.from(body)
    return { kind: 'body', etag, parts: [buf], bytes: buf.length }
  }

  private listed() {
    return this.db.selectFrom('devices').select(['device_id', 'subject', 'identity_key', 'k', 'marketing']).where('presence', '=', 1).where('identity_key', 'is not', null)
  }

  private async erasures(after: number, upTo?: number, tsAfter?: number): Promise<string[]> {
    return (await erasuresQuery(this.db, after, upTo, tsAfter).execute()).map(r => r.subject)
  }

  /**
   * The kept list when it serves version `seq` of `epoch` as it is: at that version, or past it
   * (another pull moved it on meanwhile: the gateway's next delta repeats what changed past `seq`).
   */
  private ready(seq: number, epoch: number): ListAt | null {
    const l = this.building === null ? this.kept?.current : undefined
    return l !== undefined && l.epoch === epoch && l.seq >= seq ? l : null
  }

  /**
   * The device list of this epoch at version `seq` or later. One list is built or followed at a
   * time: a pull that finds one under way waits for it.
   */
  private async devicesAt(seq: number, epoch: number): Promise<ListAt> {
    for (;;) {
      if (this.building !== null) {
        const other = await this.building.catch(() => null)
        if (other !== null && other.epoch === epoch && other.seq >= seq) return other
        continue
      }
      const ready = this.ready(seq, epoch)
      if (ready !== null) return ready
      const kept = this.kept
      this.building = kept !== null && kept.epoch === epoch ? this.follow(kept, seq) : this.build(seq, epoch)
      try {
        return await this.building
      } finally {
        this.building = null
      }
    }
  }

  /** The kept list moved to version `seq` by the devices changed and erased since its own. */
  private async follow(kept: KeptList, seq: number): Promise<ListAt> {
    const from = kept.current.seq
    const rows = await changedSince(this.db, from).execute()
    return await kept.follow(rows, await this.erasures(from), seq)
  }

  private async build(seq: number, epoch: number): Promise<ListAt> {
    this.onBuild()
    // Rows changed past `seq` meanwhile are in it too: the gateway's next delta repeats them.
    const rows = (await this.listed().orderBy('subject').execute()) as DeviceRow[]
    const kept = await KeptList.build(rows, seq, epoch)
    this.kept = kept
    return kept.current
  }

  /** The rows' material as a JSON array, from the kept list where it lists a device as it is now. */
  private async materials(rows: DeviceRow[], epoch: number): Promise<string> {
    const kept = this.kept?.epoch === epoch ? this.kept : null
    const parts: string[] = []
    for (let i = 0; i < rows.length; i++) {
      if (i > 0 && i % PAGE === 0) await nextTurn()
      parts.push(kept?.material(rows[i]) ?? materialJson(rows[i], epoch))
    }
    return '[' + parts.join(',') + ']'
  }
}

/** A whole reply from a list ready to send: its head and tail around the list's shared parts. */
function whole(etag: string, a: { head: string; tail: string }, l: ListAt): ConfigReply {
  const head = Buffer.from(a.head)
  const tail = Buffer.from(a.tail)
  return { kind: 'body', etag, parts: [head, ...l.parts, tail], bytes: head.length + l.bytes + tail.length }
}
