// The central database's tables as Kysely sees them: one row type per table, the same on SQLite
// and PostgreSQL. Times are ms since the epoch (BIGINT on PostgreSQL, read back as numbers);
// flags are 0/1 integers on both engines; JSON is kept as text (parsed in code, never in SQL, so
// that no query depends on an engine's JSON functions).
import type { Generated, Kysely, Transaction } from 'kysely'

export interface Tables {
  stores: { id: string; site: string; updated: number }
  tokens: { hash: string; role: string; stores: string; device_id: string | null; created: number; id: string | null; last_used: number | null }
  revoked_tokens: { hash: string; ts: number }
  /** The admin token from configuration or made at first start (migration 015): one row, id 1. */
  admin_slot: { id: number; hash: string | null; file: string | null }
  devices: {
    device_id: string
    subject: string
    identity_key: string | null
    k: number
    presence: number
    marketing: number
    listed: number
    version: number
    created: number
    /** When a gateway's batch last named the device's subject (ms); null before migration 006. */
    last_reported: number | null
  }
  config_version: { id: number; version: number }
  events: { id: string; store_id: string; type: string; subject: string; ts: number; body: string; received: number }
  /** Ids of events dropped by retention whose time is still within the accepted event age (migration 014). */
  dropped_event_ids: { store_id: string; id: string; ts: number }
  /** Visits whose `visits` row retention dropped while their events may still come (migration 015): `ts` the visit's latest time. */
  dropped_visit_ids: { store_id: string; visit_id: string; ts: number; entered: number; exited: number }
  triggers: {
    seq: Generated<number>
    /** The server's key of a trigger: `<store>/<event id>` (push.ts triggerKey); before migration 010, the event id. */
    trigger_id: string
    /** The trigger.fired event's id, the trigger id phones see and acknowledge (migration 010; null only before it ran). */
    event_id: string | null
    device_id: string
    store_id: string
    campaign_id: string
    ts: number
    expires: number
    body: string
    visit_id: string | null
  }
  acks: { trigger_id: string; status: string; ts: number }
  campaigns: { id: string; body: string; stores: string; updated: number }
  erasures: { subject: string; ts: number; version: number }
  /** `subject`: whose visit (migration 011; null on rows from before it): withdrawal and erasure close a subject's rows by it. */
  an_open_visits: { store_id: string; visit_id: string; shop: string; ts: number; subject: string | null }
  /**
   * One row per subject's visit at a store (migration 009): what trigger vetting needs, kept in
   * columns as the visit's shop.enter and shop.exit are stored, so vetting is one key read and
   * never parses stored bodies. enter_ts, received and segment come from the first entry stored;
   * exit_ts from the first exit; either may come first.
   */
  visits: {
    store_id: string
    subject: string
    visit_id: string
    enter_ts: number | null
    /** When the server stored the first entry (or, before one, the exit), ms. */
    received: number
    segment: string | null
    exit_ts: number | null
  }
  /** `subject` as in an_open_visits. */
  an_open_stays: { store_id: string; visit_id: string; sector: string; ts: number; subject: string | null }
  an_counts: { store_id: string; metric: string; res: string; at: number; k1: string; k2: number; n: number }
  /** Fixed-window request counters shared by every replica (server/db/rate-limit.ts). */
  rate_limits: { key: string; window_start: number; n: number }
  /** The latest live dashboard snapshot of each store, shared by replicas on PostgreSQL (server/hubs/live-hub.ts). */
  live_snapshots: { store_id: string; body: string; version: number; updated: number; apps: string | null }
  /** Which campaigns name which store (migration 007): config pulls and the per-store campaign limit read it. */
  campaign_stores: { store_id: string; campaign_id: string }
  /**
   * Open SSE streams (migration 008): `kind` 'device' (a trigger stream; owner: the device id) or
   * 'live' (a dashboard stream; owner: the store id), the token that opened it, the replica that
   * holds it, and when the lease lapses unless that replica renews it (ms).
   */
  stream_leases: { id: string; kind: string; owner: string; token_id: string | null; replica: string; expires: number; started: number | null }
}

export type Db = Kysely<Tables>
/** The database or an open transaction on it: what a function that only reads or writes takes. */
export type Q = Kysely<Tables> | Transaction<Tables>
export type Engine = 'sqlite' | 'postgres'
