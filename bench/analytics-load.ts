// Stored visits for the analytics benchmark and its test: shop.enter, a sector stay, shop.exit
// (most visits closed), some trigger.fired with acknowledgements, spread over `spanDays` up to
// `now`. Written straight into the server's events and acks tables (the rollups' triggers see
// them as they would see the uplink's inserts), and returned for a plain recount.
import type Database from 'better-sqlite3'
import { Rng } from '../shared/rng.ts'

export interface LoadedEvent { id: string, type: string, storeId: string, subject: string, ts: number, [k: string]: unknown }
export interface Loaded { events: LoadedEvent[], acks: Array<{ triggerId: string, status: string }> }

const SEGMENTS = ['first', 'returning', 'regular', 'lapsed']
const SECTORS = ['women', 'men', 'kids', 'shoes']
const STATUSES = ['delivered', 'opened', 'dismissed', 'converted']

export function loadVisits (db: Database.Database, o: { storeId: string, visits: number, now: number, spanDays?: number, seed?: number, keep?: boolean }): Loaded {
  const r = new Rng(o.seed ?? 25)
  const span = (o.spanDays ?? 30) * 86_400_000
  const out: Loaded = { events: [], acks: [] }
  const ins = db.prepare('INSERT OR IGNORE INTO events (id, store_id, type, subject, ts, body, received) VALUES (?, ?, ?, ?, ?, ?, ?)')
  const ack = db.prepare('INSERT OR IGNORE INTO acks (trigger_id, status, ts) VALUES (?, ?, ?)')
  let seq = 0
  const put = (e: { id: string, type: string, subject: string, ts: number, [k: string]: unknown }) => {
    const full: LoadedEvent = { ...e, storeId: o.storeId, seq: ++seq }
    ins.run(full.id, o.storeId, full.type, full.subject, full.ts, JSON.stringify(full), o.now)
    if (o.keep !== false) out.events.push(full)
  }
  db.transaction(() => {
    for (let i = 0; i < o.visits; i++) {
      const subject = `app:${(i % 5000).toString(16).padStart(8, '0')}`
      const visitId = `v${i}`
      const enter = Math.round(o.now - span * (1 - i / o.visits) - r.uniform(0, 60_000))
      const durationMs = Math.round(r.uniform(60_000, 3_600_000))
      const sector = r.pick(SECTORS)
      const dwellMs = Math.round(r.uniform(5_000, Math.min(durationMs, 2_400_000)))
      put({ id: `${visitId}-in`, type: 'shop.enter', subject, ts: enter, shop: 'boutique', visitId, ...(r.chance(0.9) ? { frequency: { visits7d: 1, visits30d: 1, visits90d: 1, segment: r.pick(SEGMENTS) } } : {}) })
      put({ id: `${visitId}-s-in`, type: 'sector.enter', subject, ts: enter + 1000, shop: 'boutique', sector, visitId })
      const closed = enter + durationMs < o.now && !r.chance(0.02)
      if (closed || enter + 1000 + dwellMs < o.now) put({ id: `${visitId}-s-out`, type: 'sector.exit', subject, ts: enter + 1000 + dwellMs, shop: 'boutique', sector, visitId, dwellMs })
      if (r.chance(0.1)) {
        const id = `${visitId}-t`
        put({ id, type: 'trigger.fired', subject, ts: enter + 2000, shop: 'boutique', ...(r.chance(0.8) ? { sector } : {}), visitId, campaignId: `c${r.int(0, 3)}`, content: { title: 'offer' } })
        for (const status of STATUSES) {
          if (!r.chance(0.5)) continue
          ack.run(id, status, enter + 3000)
          if (o.keep !== false) out.acks.push({ triggerId: id, status })
        }
      }
      if (closed) put({ id: `${visitId}-out`, type: 'shop.exit', subject, ts: enter + durationMs, shop: 'boutique', visitId, durationMs })
    }
  })()
  return out
}
