// What a store's gateway pulls from the central server (contract §6 GET /v1/stores/{id}/config):
// the site, the store's active campaigns, the resolution material of devices with presence
// consent, and erasures. `?since=<version>` returns only what changed since that version; a reply
// with `full: true` replaces everything the gateway held.
import { Type, type Static } from '@sinclair/typebox'
import { CampaignSchema } from './campaigns.ts'

export const DeviceMaterialSchema = Type.Object(
  {
    subject: Type.String({ pattern: '^app:[0-9a-f]{1,32}$' }),
    k: Type.Integer({ minimum: 0, maximum: 15 }),
    /** Identity key, 32 hex digits: devices files of standalone gateways only, never from the server. */
    key: Type.Optional(Type.String({ pattern: '^[0-9a-f]{32}$' })),
    /** Temporary keys (32 hex digits) by epoch (Unix seconds >> 16, decimal): the current and the next. */
    tks: Type.Optional(Type.Record(Type.String({ pattern: '^[0-9]{1,5}$' }), Type.String({ pattern: '^[0-9a-f]{32}$' }))),
    /** Marketing consent: triggers may fire for this subject. */
    marketing: Type.Optional(Type.Boolean()),
    /**
     * The device id's digest (shared/eid.ts deviceIdDigest): a phone publishing scans under its
     * device id is this subject. From the server only (a devices file has no device ids).
     */
    scan: Type.Optional(Type.String({ pattern: '^[0-9a-f]{32}$' }))
  },
  { additionalProperties: false }
)
export type DeviceMaterialT = Static<typeof DeviceMaterialSchema>

export const GatewayConfigSchema = Type.Object({
  storeId: Type.String(),
  /** Opaque: hand it back as `since` to get what changed after this reply. */
  version: Type.String({ maxLength: 100 }),
  /** Everything, replacing what the gateway held (first pull, a new epoch, an unknown `since`). */
  full: Type.Boolean(),
  /** Present when full or changed. */
  site: Type.Optional(Type.Unknown()),
  campaigns: Type.Optional(Type.Array(CampaignSchema)),
  /** Devices added or changed (presence consent given, marketing changed, new epoch's keys). */
  devices: Type.Array(DeviceMaterialSchema),
  /** Subjects whose presence consent was withdrawn: forget their material. */
  removed: Type.Array(Type.String()),
  /** Erased subjects: forget everything about them (kept forever, so late gateways still apply them). */
  erasures: Type.Array(Type.String())
})
export type GatewayConfigT = Static<typeof GatewayConfigSchema>
