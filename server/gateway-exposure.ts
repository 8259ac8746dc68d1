// Whether a gateway may hold data about a device's subject, so that erasing the device must tell
// every gateway (an erasure record, listed in whole configs for the gateways' retention window).
// A subject reaches a gateway only in a config's device list, which needs presence consent: one
// never listed cannot be resolved from a phone's adverts, and the consent gate refuses events
// about it. Recording an erasure for it anyway let anyone add one line to every gateway's config
// for a year per anonymous registration.
import type { Q } from './db/db.ts'

/**
 * False for a device already gone. True unless the device never had presence consent (`listed` stays 1 once it had), no gateway
 * ever named it in a batch (`last_reported`) and nothing is stored about it (events, visits: a
 * database from before `listed` was kept may lack the flag). Read inside the erasing transaction,
 * after the device's row is locked, so that a consent change or a batch that came first is seen.
 */
export async function mayBeHeldByGateways(q: Q, deviceId: string, subject: string): Promise<boolean> {
  const d = await q.selectFrom('devices').select(['listed', 'presence', 'last_reported']).where('device_id', '=', deviceId).executeTakeFirst()
  // Gone: erased already, its record (if due) written then.
  if (d === undefined) return false
  if (d.listed === 1 || d.presence === 1 || d.last_reported !== null) return true
  for (const table of ['events', 'visits'] as const)
    if ((await q.selectFrom(table).select('subject').where('subject', '=', subject).limit(1).executeTakeFirst()) !== undefined) return true
  return false
}
