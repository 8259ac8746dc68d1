// Stored visits for the analytics benchmark and its test: shop.enter, a sector stay, shop.exit
// (most visits closed), some trigger.fired with acknowledgements, spread over `spanDays` up to
// `now`. Written straight into the server's database through the same calls the uplink and the
// ack route make (so the rollups count them), and returned for a plain recount.
import type { Db } from '../server/db/db.ts'
import { storeAck, storeEvents, type EventRow } from '../server/db/rollups.ts'
import { Rng } from '../shared/rng.ts'

export interface LoadedEvent {
  id: string
  type: string
  storeId: string
  subject: string
  ts: number
  [k: string]: unknown
}
export interface Loaded {
  events: LoadedEvent[]
  acks: Array<{ triggerId: string; status: string }>
}

const SEGMENTS = ['first', 'returning', 'regular', 'lapsed']
const SECTORS = ['women', 'men', 'kids', 'shoes']
const STATUSES = ['delivered', 'opened', 'dismissed', 'converted']

export async function loadVisits(db: Db, o: { storeId: string; visits: number; now: number; spanDays?: number; seed?: number; keep?: boolean }): Promise<Loaded> {
  const r = new Rng(o.seed ?? 25)
  const span = (o.spanDays ?? 30) * 86_400_000
  const out: Loaded = { events: [], acks: [] }
  const rows: EventRow[] = []
  const acks: Array<[string, string, number]> = []
  const ack = {
    run: (id: string, status: string, ts: number) => {
      acks.push([id, status, ts])
    }
  }
  let seq = 0
  const put = (e: { id: string; type: string; subject: string; ts: number; [k: string]: unknown }) => {
    const full: LoadedEvent = { ...e, storeId: o.storeId, seq: ++seq }
    rows.push({ id: full.id, store_id: o.storeId, type: full.type, subject: full.subject, ts: full.ts, body: JSON.stringify(full), received: o.now })
    if (o.keep !== false) out.events.push(full)
  }
  {
    for (let i = 0; i < o.visits; i++) {
      const subject = `app:${(i % 5000).toString(16).padStart(8, '0')}`
      const visitId = `v${i}`
      const enter = Math.round(o.now - span * (1 - i / o.visits) - r.uniform(0, 60_000))
      const durationMs = Math.round(r.uniform(60_000, 3_600_000))
      const sector = r.pick(SECTORS)
      const dwellMs = Math.round(r.uniform(5_000, Math.min(durationMs, 2_400_000)))
      put({
        id: `${visitId}-in`,
        type: 'shop.enter',
        subject,
        ts: enter,
        shop: 'boutique',
        visitId,
        ...(r.chance(0.9) ? { frequency: { visits7d: 1, visits30d: 1, visits90d: 1, segment: r.pick(SEGMENTS) } } : {})
      })
      put({ id: `${visitId}-s-in`, type: 'sector.enter', subject, ts: enter + 1000, shop: 'boutique', sector, visitId })
      const closed = enter + durationMs < o.now && !r.chance(0.02)
      if (closed || enter + 1000 + dwellMs < o.now)
        put({ id: `${visitId}-s-out`, type: 'sector.exit', subject, ts: enter + 1000 + dwellMs, shop: 'boutique', sector, visitId, dwellMs })
      if (r.chance(0.1)) {
        const id = `${visitId}-t`
        put({
          id,
          type: 'trigger.fired',
          subject,
          ts: enter + 2000,
          shop: 'boutique',
          ...(r.chance(0.8) ? { sector } : {}),
          visitId,
          campaignId: `c${r.int(0, 3)}`,
          content: { title: 'offer' }
        })
        for (const status of STATUSES) {
          if (!r.chance(0.5)) continue
          ack.run(id, status, enter + 3000)
          if (o.keep !== false) out.acks.push({ triggerId: id, status })
        }
      }
      if (closed) put({ id: `${visitId}-out`, type: 'shop.exit', subject, ts: enter + durationMs, shop: 'boutique', visitId, durationMs })
    }
  }
  await db.transaction().execute(async trx => {
    for (let i = 0; i < rows.length; i += 1000) await storeEvents(trx, rows.slice(i, i + 1000))
    for (const [id, status, ts] of acks) await storeAck(trx, id, status, ts)
  })
  return out
}
