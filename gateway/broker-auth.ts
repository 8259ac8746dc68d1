// A locked-down embedded broker: per-client credentials (scrypt hashes in the gateway's auth
// file), topic ACLs, and failed logins counted and rate-limited per address.
// - a sensor (username = its site id) publishes only its own readings and status topics (and its
//   foreign-format topics when its aliases name it); with its firmware named in the auth file, also
//   what that firmware publishes and subscribes to (gateway/firmware-acl.ts), accepted and ignored;
// - a phone (username `phone:<deviceId>`) publishes only its own scans;
// - a reader (dashboards, integrations) subscribes to positions, events, occupancy and footfall;
// - nobody but the gateway itself publishes positions, events or occupancy.
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto'
import { Type, type Static } from '@sinclair/typebox'
import type { AedesOptions, Client } from 'aedes'
import { loadJsonFile } from '../shared/schema-errors.ts'
import { DEFAULT_FOREIGN, type ForeignConfig } from './foreign.ts'
import { FIRMWARES, firmwareAcl, topicMatches, type Acl } from './firmware-acl.ts'

const Hashes = Type.Record(Type.String({ minLength: 1 }), Type.String({ pattern: '^scrypt\\$' }))
export const AuthFileSchema = Type.Object({
  sensors: Type.Optional(Hashes),
  phones: Type.Optional(Hashes),
  readers: Type.Optional(Hashes),
  /** Per sensor: the upstream firmware it runs, whose own topics it may then use. */
  firmware: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.Union(FIRMWARES.map(f => Type.Literal(f)))))
}, { additionalProperties: false })
export type AuthFile = Static<typeof AuthFileSchema>

export function hashPassword (password: string): string {
  const salt = randomBytes(16)
  return `scrypt$${salt.toString('base64')}$${scryptSync(password, salt, 32).toString('base64')}`
}

export function verifyPassword (password: Buffer | string, stored: string): boolean {
  const [, salt, hash] = stored.split('$')
  if (!salt || !hash) return false
  const want = Buffer.from(hash, 'base64')
  const got = scryptSync(password, Buffer.from(salt, 'base64'), want.length)
  return got.length === want.length && timingSafeEqual(got, want)
}

export function loadAuthFile (path: string): AuthFile { return loadJsonFile(path, AuthFileSchema, 'auth file') }

export interface AuthCounters { failedLogins: number, rateLimited: number, deniedPublish: number, deniedSubscribe: number }

type Role = { kind: 'sensor', id: string } | { kind: 'phone', id: string } | { kind: 'reader', id: string }
const roles = new WeakMap<Client, Role>()

function authError (code: 4 | 5, message: string): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode: code })
}

export function brokerAuth (auth: AuthFile, o: { prefix: string, storeId: string, aliases: Map<string, string>, foreign?: ForeignConfig }, counters: AuthCounters,
  now: () => number = Date.now): Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'> {
  const failures = new Map<string, { n: number, since: number }>()
  const base = `${o.prefix}/${o.storeId}/`
  const foreign = o.foreign ?? DEFAULT_FOREIGN
  const acls = new Map<string, Acl>()
  const aclOf = (sensor: string): Acl => {
    let a = acls.get(sensor)
    if (a === undefined) {
      const names = [...o.aliases].filter(([name, id]) => id === sensor && !/[+#/]/.test(name)).map(([name]) => name)
      a = firmwareAcl(auth.firmware?.[sensor], names, foreign, foreign.theengs.filter(t => t.sensor === sensor).map(t => t.topic))
      acls.set(sensor, a)
    }
    return a
  }
  return {
    authenticate (client, username, password, done) {
      const addr = (client.conn as { remoteAddress?: string }).remoteAddress ?? 'unknown'
      const f = failures.get(addr)
      if (f && f.n >= 5 && now() - f.since < 60_000) { counters.rateLimited++; done(authError(5, 'too many failed logins'), false); return }
      let role: Role | null = null; let hash: string | undefined
      if (username?.startsWith('phone:')) { hash = auth.phones?.[username]; role = { kind: 'phone', id: username.slice(6) } } else if (username && auth.sensors?.[username] !== undefined) { hash = auth.sensors[username]; role = { kind: 'sensor', id: username } } else if (username && auth.readers?.[username] !== undefined) { hash = auth.readers[username]; role = { kind: 'reader', id: username } }
      if (!role || !hash || !password || !verifyPassword(password, hash)) {
        counters.failedLogins++
        const cur = f && now() - f.since < 60_000 ? f : { n: 0, since: now() }
        cur.n++; failures.set(addr, cur)
        done(authError(4, 'bad username or password'), false)
        return
      }
      roles.set(client, role)
      done(null, true)
    },
    authorizePublish (client, packet, callback) {
      if (client === null) { callback(null); return } // the gateway itself
      const r = roles.get(client)
      const t = packet.topic
      let ok = false
      if (r?.kind === 'sensor') {
        ok = t === `${base}sensors/${r.id}/readings` || t === `${base}sensors/${r.id}/status` || aclOf(r.id).publish.some(p => topicMatches(p, t))
      } else if (r?.kind === 'phone') {
        ok = t === `${base}devices/${r.id}/scans`
      }
      if (!ok) { counters.deniedPublish++; callback(new Error(`not allowed to publish to ${t}`)); return }
      callback(null)
    },
    authorizeSubscribe (client, sub, callback) {
      const r = roles.get(client)
      const ok = (r?.kind === 'reader' && ['positions/', 'events/', 'occupancy', 'footfall'].some(k => sub.topic.startsWith(base + k))) ||
        (r?.kind === 'sensor' && aclOf(r.id).subscribe.some(p => topicMatches(p, sub.topic)))
      // A refused subscription is answered with a failure code (0x80), the connection stays.
      if (!ok) { counters.deniedSubscribe++; callback(null, null); return }
      callback(null, sub)
    }
  }
}
