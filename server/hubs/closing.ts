// A site edited while shoppers were inside: a gateway restarted on the new site closes what was
// open under the old names (a sector renamed or removed, the shop renamed). Such an exit names a
// zone the store's site no longer has; refused like any unknown zone, it would leave the stay or
// visit it closes open for ever (an_open_stays, an_open_visits). It is taken only when it does
// close something open under exactly those names, so a made-up zone is still refused.
import type { InstoreEvent } from '../../shared/events.ts'
import type { Q } from '../db/schema.ts'

/** Whether `e`, an exit naming a zone the site no longer has, closes a stay or visit still open. */
export async function closesOpen(q: Q, storeId: string, e: InstoreEvent): Promise<boolean> {
  if (e.visitId === undefined) return false
  if (e.type === 'sector.exit' && e.sector !== undefined)
    return (
      (await q.selectFrom('an_open_stays').select('sector').where('store_id', '=', storeId).where('visit_id', '=', e.visitId).where('sector', '=', e.sector).executeTakeFirst()) !==
      undefined
    )
  if ((e.type === 'shop.exit' || e.type === 'visit.summary') && e.sector === undefined && e.shop !== undefined)
    return (
      (await q.selectFrom('an_open_visits').select('shop').where('store_id', '=', storeId).where('visit_id', '=', e.visitId).where('shop', '=', e.shop).executeTakeFirst()) !==
      undefined
    )
  return false
}
