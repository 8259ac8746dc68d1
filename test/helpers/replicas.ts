// Central servers for the concurrency tests: one or two replicas on one database (PostgreSQL on
// the PostgreSQL pass; on SQLite one process holds the file, so a second "replica" is the same
// server), each listening on a real port 0; stores s1 and s2 (the boutique site under those ids),
// a manager per store and a device with both consents.
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildServer, type Context, type ServerLimits } from '../../server/app.ts'
import { onTestDb, TEST_ENGINE } from './postgres.ts'
import { api } from './procs.ts'
import { type Logger, silentLogger } from '../../shared/log.ts'
import { ROOT } from './run.ts'
import { nextConfigVersion } from '../../server/db/db.ts'
import type { Db } from '../../server/db/schema.ts'

export interface Replica {
  app: FastifyInstance
  ctx: Context
  url: string
}

export interface Chain {
  replicas: Replica[]
  /** The first replica's data folder (readServer reads the database through it). */
  dataDir: string
  admin: string
  /** Gateway token per store. */
  gw: Record<string, string>
  /** Manager token per store. */
  manager: Record<string, string>
  close(): Promise<void>
}

export const STORES = ['s1', 's2'] as const

/** `count` replicas (PostgreSQL; SQLite gives the same one `count` times) with stores, managers and gateway tokens. */
export async function startChain(
  prefix: string,
  count = 2,
  admin = `adm_${prefix}_root1234567890`,
  limits: Partial<ServerLimits> = {},
  log: Logger = silentLogger
): Promise<Chain> {
  const o = await onTestDb({ dataDir: mkdtempSync(join(tmpdir(), `${prefix}-`)), log, adminToken: admin, limits })
  const replicas: Replica[] = []
  const start = async (dataDir: string) => {
    const { app, ctx } = await buildServer({ ...o, dataDir })
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    replicas.push({ app, ctx, url })
  }
  await start(o.dataDir)
  for (let i = 1; i < count; i++) {
    if (TEST_ENGINE === 'postgres') await start(mkdtempSync(join(tmpdir(), `${prefix}-r${i}-`)))
    else replicas.push(replicas[0])
  }
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { storeId: string }
  const gw: Record<string, string> = {}
  const manager: Record<string, string> = {}
  for (const s of STORES) {
    const r = await api<{ gatewayToken: string }>(`${replicas[0].url}/v1/stores`, admin, 'POST', { site: { ...site, storeId: s } })
    if (r.status !== 201) throw new Error(`store ${s}: ${r.status}`)
    gw[s] = r.body.gatewayToken
    const m = await api<{ token: string }>(`${replicas[0].url}/v1/operators`, admin, 'POST', { role: 'manager', stores: [s] })
    if (m.status !== 201) throw new Error(`manager ${s}: ${m.status}`)
    manager[s] = m.body.token
  }
  return {
    replicas,
    dataDir: o.dataDir,
    admin,
    gw,
    manager,
    close: async () => {
      for (const r of new Set(replicas)) await r.app.close()
    }
  }
}

/** A registered device with presence and marketing consent. */
export async function registerDevice(url: string): Promise<{ deviceId: string; token: string; subject: string }> {
  const r = await api<{ deviceId: string; token: string; subject: string }>(`${url}/v1/devices`, null, 'POST', { consent: { presence: true, marketing: true } })
  if (r.status !== 201) throw new Error(`registration: ${r.status}`)
  return r.body
}

/** `n` devices with presence and marketing consent, listed to gateways, written straight into the database in one config version (big configs without n registrations). */
export async function seedListedDevices(db: Db, n: number): Promise<void> {
  await db.transaction().execute(async trx => {
    const version = await nextConfigVersion(trx)
    for (let i = 0; i < n; i += 500)
      await trx
        .insertInto('devices')
        .values(
          Array.from({ length: Math.min(500, n - i) }, () => ({
            device_id: randomUUID(),
            subject: 'app:' + randomBytes(8).toString('hex'),
            identity_key: randomBytes(16).toString('hex'),
            k: 10,
            presence: 1,
            marketing: 1,
            listed: 1,
            version,
            created: Date.now()
          }))
        )
        .execute()
  })
}
