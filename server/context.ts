// What every route plugin receives from buildServer: the database, the hubs and the counters.
// Its own module so that routes/* need nothing from app.ts, which imports them (no import cycle).
import type { DataStore, Db } from './db/db.ts'
import type { TriggerHub } from './hubs/push.ts'
import type { LiveHub } from './hubs/live-hub.ts'
import type { Logger } from '../shared/log.ts'
import type { ConsentGate } from './identity.ts'

export interface Context {
  /** The database's queries (Kysely), the same on SQLite and PostgreSQL. */
  db: Db
  /** The database itself: its engine, wake-ups across replicas, the SQLite file's handle. */
  data: DataStore
  hub: TriggerHub
  live: LiveHub
  metrics: {
    eventsAccepted: number
    eventsDuplicate: number
    eventsRefused: Record<string, number>
    liveRefused: Record<string, number>
    requests: number
    errors5xx: number
    refused: Record<string, number>
    /** Registrations removed unused (server/identity.ts expireRegistrations). */
    registrationsExpired: number
    /** Whole-config device lists built (server/config-reply.ts): once per config version and epoch. */
    configBuilds: number
    /** Streamed config replies stopped before their end, by why (server/config-reply.ts streamed). */
    configStreamsCut: { build_failed: number; client_left: number; stalled: number }
  }
  log: Logger
  /** Events refused by presence consent (server/identity.ts). */
  consent: ConsentGate
  /** Rotation exponent K of the Eddystone-EIDs issued to apps. */
  eidK?: number
  /** What gateways' events may say (how old an event may be, which app link schemes a campaign may carry) and how far back a whole config lists erasures. */
  policy: { maxEventAgeMs: number; appSchemes: readonly string[]; erasureWindowMs: number; campaignsPerStore?: number; liveMinIntervalMs?: number; replyStallMs?: number }
}
