// The server pushes a trigger.fired only inside a visit it saw begin (server/hubs/visits.ts): tests
// that are about something else open the visit first, with a shop.enter of their own.
import { createHash } from 'node:crypto'
import type { FrequencyT, InstoreEvent } from '../../shared/events.ts'

const isTrigger = (e: unknown): e is InstoreEvent =>
  typeof e === 'object' && e !== null && (e as InstoreEvent).type === 'trigger.fired' && typeof (e as InstoreEvent).visitId === 'string'

/** The shop.enter that opens a trigger's visit, a second before it; the same visit gives the same event id. */
export function enterFor(t: InstoreEvent, segment: FrequencyT['segment'] = 'first', shop = 'boutique'): InstoreEvent {
  const id = `O${createHash('sha256')
    .update(JSON.stringify([t.storeId, t.subject, t.visitId]))
    .digest('hex')
    .slice(0, 24)}`
  const frequency = { visits7d: 0, visits30d: 0, visits90d: 0, daysSinceLastVisit: null, segment }
  return { id, type: 'shop.enter', storeId: t.storeId, subject: t.subject, visitId: t.visitId, seq: 1, ts: t.ts - 1000, shop: t.shop ?? shop, frequency }
}

/**
 * A post of events that first opens each trigger's visit in a post of its own (a re-sent entry is
 * a duplicate), so the reply under test is the batch's alone.
 */
export function openingVisits<A extends unknown[], R>(post: (events: unknown[], ...rest: A) => Promise<R>): (events: unknown[], ...rest: A) => Promise<R> {
  return async (events, ...rest) => {
    const enters = events.filter(isTrigger).map(t => enterFor(t))
    if (enters.length > 0) await post(enters, ...rest)
    return await post(events, ...rest)
  }
}

/**
 * Events of store s1 about a subject, numbered from one counter per test file (`prefix` keeps the
 * ids of two files apart): `ev` a sector.enter unless told otherwise, `trig` a trigger.fired.
 */
export function eventMaker(prefix: string): {
  ev: (subject: string, over?: Partial<InstoreEvent>) => InstoreEvent
  trig: (campaignId: string, subject: string, over?: Partial<InstoreEvent>) => InstoreEvent
} {
  let n = 0
  const ev = (subject: string, over: Partial<InstoreEvent> = {}): InstoreEvent => ({
    id: `${prefix}${++n}`,
    type: 'sector.enter',
    storeId: 's1',
    subject,
    visitId: `visit-${n}`,
    seq: n,
    ts: Date.now(),
    shop: 'boutique',
    sector: 'women',
    ...over
  })
  const trig = (campaignId: string, subject: string, over: Partial<InstoreEvent> = {}): InstoreEvent =>
    ev(subject, { type: 'trigger.fired', campaignId, content: { title: 'gateway title' }, reason: 'gateway', ...over })
  return { ev, trig }
}
