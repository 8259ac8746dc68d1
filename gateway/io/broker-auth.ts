// A locked-down embedded broker: per-client credentials (scrypt hashes in the gateway's auth
// file), topic ACLs, and failed logins counted and slowed down per username and per address.
// - a sensor (username = its site id) publishes only its own readings and status topics (and its
//   foreign-format topics when its aliases name it); with its firmware named in the auth file, also
//   what that firmware publishes and subscribes to (gateway/ingest/firmware-acl.ts), accepted and ignored;
// - a phone (username `phone:<deviceId>`) publishes only its own scans;
// - a reader (dashboards, integrations) subscribes to positions, events, occupancy and footfall;
// - nobody but the gateway itself publishes positions, events or occupancy.
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto'
import { Type, type Static } from '@sinclair/typebox'
import type { AedesOptions, Client } from 'aedes'
import { loadJsonFile } from '../../shared/schema-errors.ts'
import { DEFAULT_FOREIGN, type ForeignConfig } from '../ingest/foreign.ts'
import { FIRMWARES, firmwareAcl, topicMatches, type Acl } from '../ingest/firmware-acl.ts'
import { underRoot } from '../ingest/foreign.ts'
import { LoginQueue, LoginThrottle } from './login-throttle.ts'

const Hashes = Type.Record(Type.String({ minLength: 1 }), Type.String({ pattern: '^scrypt\\$' }))
export const AuthFileSchema = Type.Object(
  {
    sensors: Type.Optional(Hashes),
    phones: Type.Optional(Hashes),
    readers: Type.Optional(Hashes),
    /** Per sensor: the upstream firmware it runs, whose own topics it may then use. */
    firmware: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.Union(FIRMWARES.map(f => Type.Literal(f)))))
  },
  { additionalProperties: false }
)
export type AuthFile = Static<typeof AuthFileSchema>

export function hashPassword(password: string): string {
  const salt = randomBytes(16)
  return `scrypt$${salt.toString('base64')}$${scryptSync(password, salt, 32).toString('base64')}`
}

export function verifyPassword(password: Buffer | string, stored: string): boolean {
  const [, salt, hash] = stored.split('$')
  if (!salt || !hash) return false
  const want = Buffer.from(hash, 'base64')
  const got = scryptSync(password, Buffer.from(salt, 'base64'), want.length)
  return got.length === want.length && timingSafeEqual(got, want)
}

/** verifyPassword off the event loop (libuv's thread pool): a login flood must not stall the broker. */
export async function verifyPasswordAsync(password: Buffer | string, stored: string): Promise<boolean> {
  const [, salt, hash] = stored.split('$')
  if (!salt || !hash) return false
  const want = Buffer.from(hash, 'base64')
  const got = await new Promise<Buffer>((resolve, reject) => scrypt(password, Buffer.from(salt, 'base64'), want.length, (err, key) => (err ? reject(err) : resolve(key))))
  return got.length === want.length && timingSafeEqual(got, want)
}

export { LoginThrottle, LoginQueue, LOGIN_DELAY_BASE_MS, LOGIN_DELAY_MAX_MS, LOGIN_FORGET_MS, LOGIN_WAITING_MAX } from './login-throttle.ts'

export function loadAuthFile(path: string): AuthFile {
  return loadJsonFile(path, AuthFileSchema, 'auth file')
}

export interface AuthCounters {
  failedLogins: number
  rateLimited: number
  deniedPublish: number
  deniedSubscribe: number
  /** Logins refused because another username holds their client id (connected or with a stored session). */
  clientIdTaken?: number
  /** Connected clients disconnected because a reloaded auth file revoked or changed their credentials. */
  revoked?: number
  /** Auth-file reloads refused (the file did not load; the one in force stays). */
  reloadRefused?: number
}

/** How long a stored session's client id stays its username's after the connection closed, ms. */
const STORED_HOLD_MS = 3_600_000
/** Client ids remembered at most (live ones are never dropped). */
const MAX_HOLDERS = 10_000

/** Client ids reserved to one sensor username at most (its newest): a sensor keeps one id, a spare or two when reflashed. */
const SENSOR_IDS_MAX = 8

type Role = { kind: 'sensor'; id: string } | { kind: 'phone'; id: string } | { kind: 'reader'; id: string }
/** A login whose password matched `hash`. */
type Verified = { role: Role; hash: string }
type Holder = { username: string; kind: Role['kind']; clean: boolean; closedAt: number | null }
const roles = new WeakMap<Client, Role>()
/** Each logged-in client's login, spelt once at login: the bus asks for it with every message. */
const logins = new WeakMap<Client, string>()

/** Who a logged-in client is (`sensor:<id>`, `phone:<id>`, `reader:<name>`), for budgets kept per login; undefined without logins. */
export function loginOf(client: Client): string | undefined {
  return logins.get(client)
}

function authError(code: 2 | 4 | 5, message: string): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode: code })
}

/** The broker's hooks, and the way to put a new auth file in force without a restart. */
export type BrokerAuth = Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'> & {
  /**
   * Puts `next` in force: later logins and checks use it, and every connected client whose
   * username it no longer has, or whose password hash it changed, is disconnected (a revoked or
   * rotated credential must not stay connected until its next login). Returns how many were.
   */
  replace(next: AuthFile): number
}

export function brokerAuth(
  initial: AuthFile,
  o: { prefix: string; storeId: string; aliases: Map<string, string>; foreign?: ForeignConfig },
  counters: AuthCounters,
  now: () => number = Date.now,
  wait: (ms: number) => Promise<void> = async ms => await new Promise(resolve => setTimeout(resolve, ms))
): BrokerAuth {
  let auth = initial
  // Connected clients and the hash they logged in with, to find who a new auth file revokes.
  const live = new Map<Client, { username: string; grant: string }>()
  const throttle = new LoginThrottle(now)
  const queue = new LoginQueue()
  // Unknown usernames are checked against this hash so that they cost as much as known ones.
  const dummy = hashPassword(randomBytes(16).toString('base64'))
  const base = `${o.prefix}/${o.storeId}/`
  // Who holds each client id: a client id is a session (its subscriptions and queued messages,
  // kept with clean:false) and a slot (a second login with it knocks the first off). Another
  // username taking it would inherit what was queued for the first and could keep a sensor off the
  // broker (ESPresense's client id, `espresense-<room>`, is public), so only the username that
  // holds it may use it. A clean session is released when its connection closes; a stored one an
  // hour after (a login that grabbed a sensor's id while it was away cannot keep it off for good).
  // Entries keep no client, and closed ones go first past MAX_HOLDERS.
  //
  // Sensors come first: a client id a sensor username has used is reserved to it (no phone or
  // reader may take it, however long the sensor is away; another sensor only as below: a sensor's id is fixed in
  // its firmware, ESPresense's even public), and a sensor takes its id back from a phone that holds
  // it (a phone may subscribe to nothing, so its session carries nothing over). A phone login could
  // otherwise grab a sensor's id in the moment the sensor reconnects and keep it off the broker.
  const holders = new Map<string, Holder>()
  // A reservation lapses for another sensor (credentials rotated: a new username, the same client
  // id in firmware) once its username has left the auth config or its sensor has been away for
  // STORED_HOLD_MS; phones and readers still never take it.
  const reserved = new Map<string, { sensor: string; closedAt: number | null }>()
  const departed = (sensor: string): boolean => auth.sensors?.[sensor] === undefined
  const lapsed = (r: { sensor: string; closedAt: number | null }): boolean => departed(r.sensor) || (r.closedAt !== null && now() - r.closedAt >= STORED_HOLD_MS)
  /**
   * The sensor a client id names, if any: the id ends with a sensor's id or alias after a
   * separator (`espresense-front-left`, `OMG_b2`), the longest such name winning (so `left` does
   * not claim `front-left`'s id).
   */
  const namedSensor = (id: string | undefined): string | undefined => {
    if (typeof id !== 'string' || id === '') return undefined
    const lower = id.toLowerCase()
    let best: string | undefined
    let bestLength = 0
    const consider = (name: string, sensor: string): void => {
      const n = name.toLowerCase()
      if (n.length <= bestLength || auth.sensors?.[sensor] === undefined) return
      const at = lower.length - n.length
      if (lower === n || (at > 0 && lower.endsWith(n) && /[-_/:. ]/.test(lower[at - 1]))) {
        best = sensor
        bestLength = n.length
      }
    }
    for (const sensor of Object.keys(auth.sensors ?? {})) consider(sensor, sensor)
    for (const [name, sensor] of o.aliases) consider(name, sensor)
    return best
  }
  const reserve = (id: string, sensor: string): void => {
    reserved.delete(id) // re-inserted last: the Map's order is then age
    reserved.set(id, { sensor, closedAt: null })
    let n = 0
    for (const r of reserved.values()) if (r.sensor === sensor) n++
    if (n <= SENSOR_IDS_MAX) return
    for (const [k, r] of reserved) {
      if (r.sensor !== sensor) continue
      reserved.delete(k)
      break
    }
  }
  const holdOrRefuse = (client: Client, username: string, role: Role): boolean => {
    const owner = reserved.get(client.id)
    const natural = namedSensor(client.id)
    // An id that names a sensor (`espresense-<its room>`) is that sensor's: no other login may use
    // it, and that sensor takes it from whoever holds or reserved it (a sensor that used it
    // first must not lock the named one out, nor hand it on).
    if (natural !== undefined && natural !== username) return false
    if (natural === undefined && owner !== undefined && owner.sensor !== username && !(role.kind === 'sensor' && lapsed(owner))) return false
    const held = holders.get(client.id)
    const holds =
      held !== undefined &&
      held.username !== username &&
      (held.closedAt === null || now() - held.closedAt < STORED_HOLD_MS) &&
      !(role.kind === 'sensor' && held.kind === 'sensor' && departed(held.username))
    if (holds && natural === undefined && !(role.kind === 'sensor' && held.kind === 'phone')) return false
    if (held === undefined && holders.size >= MAX_HOLDERS) {
      for (const [id, h] of holders) {
        if (h.closedAt !== null) holders.delete(id)
        if (holders.size < MAX_HOLDERS) break
      }
    }
    if (role.kind === 'sensor') reserve(client.id, username)
    const entry: Holder = { username, kind: role.kind, clean: client.clean, closedAt: null }
    holders.set(client.id, entry)
    // Every stream aedes handles (TCP, TLS, WebSocket) emits 'close'; a stand-in client may have none.
    const conn = client.conn as Partial<Pick<NodeJS.EventEmitter, 'once'>> | undefined
    conn?.once?.('close', () => {
      live.delete(client)
      if (holders.get(client.id) !== entry) return
      const r = reserved.get(client.id)
      if (r?.sensor === username) r.closedAt = now()
      if (entry.clean) holders.delete(client.id)
      else entry.closedAt = now()
    })
    return true
  }
  const foreign = o.foreign ?? DEFAULT_FOREIGN
  const acls = new Map<string, Acl>()
  const aclOf = (sensor: string): Acl => {
    let a = acls.get(sensor)
    if (a === undefined) {
      const names = [...o.aliases].filter(([name, id]) => id === sensor && !/[+#/]/.test(name)).map(([name]) => name)
      a = firmwareAcl(
        auth.firmware?.[sensor],
        names,
        foreign,
        foreign.theengs.filter(t => t.sensor === sensor).map(t => t.topic)
      )
      acls.set(sensor, a)
    }
    return a
  }
  const login = async (client: Client, username: string | undefined, password: Buffer | undefined): Promise<Verified | null> => {
    const addr = (client.conn as { remoteAddress?: string }).remoteAddress ?? 'unknown'
    const keys = [`addr:${addr}`, `user:${username ?? ''}`]
    const r = await queue.run(keys, async () => await attempt(keys, username, password))
    if (r === null) {
      counters.failedLogins++
      counters.rateLimited++
      return null
    }
    return r.value
  }
  const hashOf = (a: AuthFile, username: string): string | undefined => (username.startsWith('phone:') ? a.phones?.[username] : (a.sensors?.[username] ?? a.readers?.[username]))
  // What a login is granted by a file: its hash, its role and its firmware's topics. A reload that
  // changes any of them ends the connection (a sensor moved to readers must not keep publishing,
  // a narrowed firmware must not keep its old subscriptions).
  const grantOf = (a: AuthFile, username: string): string =>
    JSON.stringify([
      hashOf(a, username) ?? null,
      username.startsWith('phone:') ? 'phone' : a.sensors?.[username] !== undefined ? 'sensor' : 'reader',
      a.firmware?.[username] ?? null
    ])
  const attempt = async (keys: string[], username: string | undefined, password: Buffer | undefined): Promise<Verified | null> => {
    const delay = throttle.delayMs(keys)
    let role: Role | null = null
    let hash: string | undefined
    if (username?.startsWith('phone:')) {
      hash = auth.phones?.[username]
      role = { kind: 'phone', id: username.slice(6) }
    } else if (username && auth.sensors?.[username] !== undefined) {
      hash = auth.sensors[username]
      role = { kind: 'sensor', id: username }
    } else if (username && auth.readers?.[username] !== undefined) {
      hash = auth.readers[username]
      role = { kind: 'reader', id: username }
    }
    const ok = (await verifyPasswordAsync(password ?? '', hash ?? dummy)) && role !== null && hash !== undefined && password !== undefined
    if (ok) throttle.succeed(keys[1])
    else {
      counters.failedLogins++
      throttle.fail(keys)
    }
    if (delay > 0) {
      counters.rateLimited++
      await wait(delay)
    }
    return ok && role !== null && hash !== undefined ? { role, hash } : null
  }
  return {
    replace(next) {
      auth = next
      acls.clear() // firmware names may have changed
      let closed = 0
      for (const [client, l] of [...live]) {
        if (grantOf(next, l.username) === l.grant) continue
        live.delete(client)
        roles.delete(client)
        counters.revoked = (counters.revoked ?? 0) + 1
        closed++
        client.close()
      }
      return closed
    },
    authenticate(client, username, password, done) {
      login(client, username, password).then(
        verified => {
          // A credential revoked or changed by a reload while its check ran is refused too.
          if (verified === null || hashOf(auth, username ?? '') !== verified.hash) {
            done(authError(4, 'bad username or password'), false)
            return
          }
          const { role } = verified
          // The socket closed while the password was checked: nothing to hold (its close event has
          // passed, so nothing would ever release a client id or a place among the connected).
          if (client.closed || (client.conn as { destroyed?: boolean } | undefined)?.destroyed === true) {
            done(authError(4, 'connection closed during login'), false)
            return
          }
          if (!holdOrRefuse(client, username ?? '', role)) {
            counters.clientIdTaken = (counters.clientIdTaken ?? 0) + 1
            done(authError(2, 'client id held by another user'), false)
            return
          }
          roles.set(client, role)
          logins.set(client, `${role.kind}:${role.id}`)
          live.set(client, { username: username ?? '', grant: grantOf(auth, username ?? '') })
          done(null, true)
        },
        () => {
          counters.failedLogins++
          done(authError(4, 'bad username or password'), false)
        }
      )
    },
    authorizePublish(client, packet, callback) {
      if (client === null) {
        callback(null)
        return
      } // the gateway itself
      const r = roles.get(client)
      const t = packet.topic
      let ok = false
      if (r?.kind === 'sensor') {
        // Firmware topics never reach into the native tree, whatever roots were configured.
        ok = t === `${base}sensors/${r.id}/readings` || t === `${base}sensors/${r.id}/status` || (!underRoot(t, o.prefix) && aclOf(r.id).publish.some(p => topicMatches(p, t)))
      } else if (r?.kind === 'phone') {
        ok = t === `${base}devices/${r.id}/scans`
      }
      if (!ok) {
        counters.deniedPublish++
        callback(new Error(`not allowed to publish to ${t}`))
        return
      }
      callback(null)
    },
    authorizeSubscribe(client, sub, callback) {
      const r = roles.get(client)
      const ok =
        (r?.kind === 'reader' && ['positions/', 'events/', 'occupancy', 'footfall'].some(k => sub.topic.startsWith(base + k))) ||
        (r?.kind === 'sensor' && aclOf(r.id).subscribe.some(p => topicMatches(p, sub.topic)))
      // A refused subscription is answered with a failure code (0x80), the connection stays.
      if (!ok) {
        counters.deniedSubscribe++
        callback(null, null)
        return
      }
      callback(null, sub)
    }
  }
}
