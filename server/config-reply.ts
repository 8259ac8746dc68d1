// The body of GET /v1/stores/{id}/config, built so that no pull can hold the server's one event
// loop for long, whoever sends it and however often:
// - the device list of a whole config is the same for every store: it is built once per
//   (config version, epoch) and kept, and a store's reply only adds its site, campaigns and
//   erasures around it; a new version (a registration) rebuilds it from the memo below;
// - the ETag of a whole reply comes from what it is made of (store, version, erasures), not from
//   hashing megabytes of body, so a 304 of a kept list costs a few small queries;
// - a device's material (two AES blocks) is memoised per epoch, and lists are built a page at a
//   time, yielding to other requests between pages;
// - one token has one pull in progress at a time: another is refused (429, counted);
// - a whole reply whose list is not built yet is streamed: its head at once, then a space (JSON
//   whitespace) every KEEP_ALIVE_MS until the list is ready, so a gateway that times out on a
//   silent link, not on a long body, waits for a list however long it takes to build.
import { createHash } from 'node:crypto'
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { Db } from './db/db.ts'
import { configVersion } from './db/db.ts'
import { counterAt, epochOf, temporaryKeyPairHex } from '../shared/eid.ts'
import type { Campaign } from '../shared/campaigns.ts'
import { VERSION_RE } from './identity.ts'

interface DeviceRow {
  subject: string
  identity_key: string
  k: number
  marketing: number
}

/** Devices whose material is made between two turns of the event loop. */
const PAGE = 500

/**
 * A device's material as JSON, exactly as JSON.stringify of its DeviceMaterialT: written by hand,
 * and both temporary keys from one cipher, because a whole list makes this 100,000 times in a row.
 */
function materialJson(d: DeviceRow, epoch: number): string {
  const tks = temporaryKeyPairHex(Buffer.from(d.identity_key, 'hex'), epoch)
  return `{"subject":${JSON.stringify(d.subject)},"k":${d.k},"marketing":${d.marketing === 1},"tks":{"${epoch}":"${tks.slice(0, 32)}","${epoch + 1}":"${tks.slice(32)}"}}`
}

/** A whole config's device list, as JSON, at a config version and epoch; when it was built. */
interface Built {
  seq: number
  epoch: number
  json: string
  at: number
}

export type ConfigReply =
  | { kind: 'bad_since'; reason: string }
  | { kind: 'busy' }
  | { kind: 'not_modified'; etag: string }
  | { kind: 'body'; etag: string; body: string }
  /** The body is `head`, then `devices` once built, then `tail`. */
  | { kind: 'building'; etag: string; head: string; devices: Promise<string>; tail: string }

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
export async function* streamed(r: { head: string; devices: Promise<string>; tail: string }, o: StreamOptions = {}): AsyncGenerator<string> {
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
    let devices: string
    try {
      devices = await list
    } catch (err) {
      failed = true
      o.onCut?.('build_failed', err)
      throw err
    }
    yield devices
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
  private built: Built | null = null
  private building: Promise<Built> | null = null
  private memo: { epoch: number; json: Map<string, string> } = { epoch: -1, json: new Map() }
  private readonly pulling = new Set<string>()

  constructor(
    private readonly db: Db,
    private readonly erasureWindowMs: number,
    private readonly now: () => number = Date.now,
    /** Called at each whole device list built (counted in /metrics). */
    private readonly onBuild: () => void = () => {}
  ) {}

  /**
   * The reply to one pull by token `tokenId`: whole (no `since`, or one of another epoch) or what
   * changed since `since`; not_modified when `ifNoneMatch` is its ETag.
   */
  async pull(storeId: string, site: unknown, since: string | undefined, ifNoneMatch: string | undefined, tokenId: string): Promise<ConfigReply> {
    if (this.pulling.has(tokenId)) return { kind: 'busy' }
    this.pulling.add(tokenId)
    let r: ConfigReply | undefined
    try {
      r = await this.reply(storeId, site, since, ifNoneMatch)
      return r
    } finally {
      // A streamed reply is in progress until its list is built.
      if (r?.kind === 'building') r.devices.finally(() => this.pulling.delete(tokenId)).catch(() => {})
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
    const version = (s: number) => `${s}.${epoch}.${contentHash}`
    let from: { seq: number; epoch: number; hash: string } | null = null
    if (since !== undefined) {
      const m = VERSION_RE.exec(since)
      if (!m) return { kind: 'bad_since', reason: `since '${since.slice(0, 40)}' is not a version this server gave` }
      from = { seq: Number(m[1]), epoch: Number(m[2]), hash: m[3] }
      if (from.seq > seq) return { kind: 'bad_since', reason: `since ${since} is ahead of this server (version ${version(seq)})` }
    }
    // A new epoch needs new temporary keys for every device: a whole reply, once a day or so.
    if (from === null || from.epoch !== epoch) {
      // Expired registrations (ts 0: never seen by a gateway) are left out: no gateway holds data about them.
      const erasures = await this.erasures(-1, seq, nowMs - this.erasureWindowMs)
      const head = { storeId, version: version(seq), full: true, site, campaigns }
      const tail = { removed: [], erasures }
      // The ETag is known before the list: a 304 builds nothing.
      const etag = tag(JSON.stringify(['full', head, tail]))
      if (ifNoneMatch === etag) return { kind: 'not_modified', etag }
      const kept = this.built
      if (kept !== null && kept.epoch === epoch && kept.seq === seq) return { kind: 'body', etag, body: assemble(head, kept.json, tail) }
      return { kind: 'building', etag, ...around(head, tail), devices: this.devicesAt(seq, epoch).then(b => b.json) }
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
    const body = assemble(head, await this.materials(rows, epoch, false), tail)
    const etag = tag(body)
    return ifNoneMatch === etag ? { kind: 'not_modified', etag } : { kind: 'body', etag, body }
  }

  private listed() {
    return this.db.selectFrom('devices').select(['subject', 'identity_key', 'k', 'marketing']).where('presence', '=', 1).where('identity_key', 'is not', null)
  }

  private async erasures(after: number, upTo?: number, tsAfter?: number): Promise<string[]> {
    return (await erasuresQuery(this.db, after, upTo, tsAfter).execute()).map(r => r.subject)
  }

  /**
   * Whether devices were only added since kept list `b` (no device that existed at its build
   * changed, no consent withdrawn, no erasure): then the list is extended, not rebuilt.
   */
  private async onlyAdded(b: Built): Promise<boolean> {
    const changed = await this.db
      .selectFrom('devices')
      .select('subject')
      .where('version', '>', b.seq)
      .where(eb => eb.or([eb('created', '<', b.at), eb.and([eb('presence', '=', 0), eb('listed', '=', 1)])]))
      .limit(1)
      .execute()
    return changed.length === 0 && (await this.erasures(b.seq)).length === 0
  }

  /**
   * The device list of this epoch at version `seq`, kept until the version or epoch moves. One
   * list is built at a time: a pull that finds one being built waits for it.
   */
  private async devicesAt(seq: number, epoch: number): Promise<Built> {
    for (;;) {
      const b = this.built
      if (b !== null && b.epoch === epoch && b.seq === seq) return b
      if (this.building !== null) {
        const other = await this.building.catch(() => null)
        if (other !== null && other.epoch === epoch && other.seq === seq) return other
        continue
      }
      // Decided inside the promise: no other pull may start a second build meanwhile.
      this.building = (async () => (b !== null && b.epoch === epoch && b.seq < seq && (await this.onlyAdded(b)) ? this.extend(b, seq) : this.build(seq, epoch)))()
      try {
        this.built = await this.building
        return this.built
      } finally {
        this.building = null
      }
    }
  }

  /**
   * Kept list `b` with the devices added since (re-tester, s10: phones registering, which anyone
   * may do, made every whole pull rebuild the whole list). Appended after the others; one already
   * listed as it is now is not listed twice.
   */
  private async extend(b: Built, seq: number): Promise<Built> {
    const rows = (await this.listed().where('version', '>', b.seq).orderBy('subject').execute()) as DeviceRow[]
    const parts: string[] = []
    const memo = await this.eachMaterial(rows, b.epoch, (key, json, memo) => {
      if (memo.has(key)) return
      memo.set(key, json)
      parts.push(json)
    })
    this.memo = { epoch: b.epoch, json: memo }
    const json = parts.length === 0 ? b.json : b.json === '[]' ? `[${parts.join(',')}]` : `${b.json.slice(0, -1)},${parts.join(',')}]`
    return { seq, epoch: b.epoch, json, at: this.now() }
  }

  private async build(seq: number, epoch: number): Promise<Built> {
    this.onBuild()
    // Rows changed past `seq` meanwhile are in it too: the gateway's next delta repeats them.
    const rows = (await this.listed().orderBy('subject').execute()) as DeviceRow[]
    const json = await this.materials(rows, epoch, true)
    return { seq, epoch, json, at: this.now() }
  }

  /** The rows' material as a JSON array; `whole`: the memo keeps these devices only. */
  private async materials(rows: DeviceRow[], epoch: number, whole: boolean): Promise<string> {
    const kept = whole ? new Map<string, string>() : null
    const parts: string[] = []
    await this.eachMaterial(rows, epoch, (key, json) => {
      kept?.set(key, json)
      parts.push(json)
    })
    if (kept !== null) this.memo = { epoch, json: kept }
    return '[' + parts.join(',') + ']'
  }

  /**
   * Calls `fn` with each row's memo key and material JSON (from the memo of `epoch` when it has
   * it), a page per turn of the event loop; `memo` is that memo (a new one for a new epoch).
   * Returned for the caller to keep or not.
   */
  private async eachMaterial(rows: DeviceRow[], epoch: number, fn: (key: string, json: string, memo: Map<string, string>) => void): Promise<Map<string, string>> {
    const memo = this.memo.epoch === epoch ? this.memo.json : new Map<string, string>()
    for (let i = 0; i < rows.length; i++) {
      if (i > 0 && i % PAGE === 0) await nextTurn()
      const d = rows[i]
      const key = `${d.subject} ${d.identity_key} ${d.k} ${d.marketing}`
      fn(key, memo.get(key) ?? materialJson(d, epoch), memo)
    }
    return memo
  }
}
