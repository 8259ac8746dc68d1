// Recalling triggers: a campaign deleted, deactivated, taken off a store or given other content
// (a wrong or malicious link) must not reach a phone that has not yet read its trigger. Pending
// triggers are expired when the campaign changes (their rows stay, so caps keep counting them),
// and every read checks again against the live campaign, for a trigger recorded meanwhile.
import type { Q } from '../db/db.ts'
import type { Campaign } from '../../shared/campaigns.ts'
import type { ContentT } from '../../shared/events.ts'

/** What of a pushed trigger (push.ts) is checked against its campaign. */
type Pushed = { storeId: string; content: ContentT }

/**
 * JSON with every object's keys sorted, recursively: the same content stored with its keys in
 * another order (a PUT that only renames) is the same content, and recalls nothing.
 */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>
    const keys = Object.keys(o)
      .filter(k => o[k] !== undefined)
      .sort()
    return `{${keys.map(k => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`
  }
  return JSON.stringify(v) ?? 'null'
}

/** Whether a pushed trigger still stands against its campaign as it is now (null or undefined: deleted). */
export function stillLive(t: Pushed, c: Campaign | null | undefined): boolean {
  return c != null && c.active !== false && c.stores.includes(t.storeId) && canonical(c.content) === canonical(t.content)
}

/** Expires the campaign's pending triggers that its new state (null: deleted) no longer stands behind; how many. */
export async function withdrawPending(q: Q, campaignId: string, now: Campaign | null, at: number): Promise<number> {
  const pending = await q.selectFrom('triggers').select(['trigger_id', 'body']).where('campaign_id', '=', campaignId).where('expires', '>', at).execute()
  const stale = pending.filter(r => !stillLive(JSON.parse(r.body) as Pushed, now)).map(r => r.trigger_id)
  let n = 0
  for (let i = 0; i < stale.length; i += 500) {
    const r = await q
      .updateTable('triggers')
      .set({ expires: Math.floor(at) })
      .where('trigger_id', 'in', stale.slice(i, i + 500))
      .executeTakeFirst()
    n += Number(r.numUpdatedRows)
  }
  return n
}

/** Expires every trigger of a device not yet past its time (marketing consent withdrawn); how many. */
export async function expirePendingOf(q: Q, deviceId: string, at: number): Promise<number> {
  const r = await q
    .updateTable('triggers')
    .set({ expires: Math.floor(at) })
    .where('device_id', '=', deviceId)
    .where('expires', '>', Math.floor(at))
    .executeTakeFirst()
  return Number(r.numUpdatedRows)
}
