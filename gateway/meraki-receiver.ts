// The Cisco Meraki Scanning API receiver on the gateway's HTTP port. A post is answered as soon as
// its secret is checked; its observations then go through in bounded slices, yielding to the event
// loop between them, so a large post never stalls the embedded broker or other posts. Posts are
// taken in turn.
import type { Logger } from '../shared/log.ts'
import type { Site } from '../shared/site.ts'
import type { Metrics } from './io/metrics.ts'
import type { Webhook } from './io/http.ts'
import type { Pipeline } from './pipeline.ts'
import { checkMerakiPost, merakiReadings, toBatches, apMap, type MerakiOptions, type MerakiPost } from './ingest/meraki.ts'
import { redactMacs } from './ingest/subjects.ts'

/** Observations of a Meraki post taken per slice before yielding to the event loop. */
const MERAKI_SLICE = 500
/** Largest Meraki post accepted, bytes: a big network's minute, with room to spare. */
const MERAKI_MAX_BYTES = 8 * 2 ** 20

export class MerakiReceiver {
  /** Posts still being taken in, in turn. */
  work: Promise<void> = Promise.resolve()

  constructor(
    private readonly o: { site: Site; prefix: string; log: Logger },
    private readonly metrics: Metrics,
    private readonly internalError: () => void
  ) {}

  /**
   * The webhook for `startHttp`: readings go to `accept` as native batches, positions Meraki
   * estimated itself straight to the pipeline, and `kick` starts the pipeline's work on them.
   */
  webhook(
    m: MerakiOptions & { maxBytes?: number },
    pipeline: Pipeline,
    accept: (topic: string, payload: Buffer) => void,
    kick: () => void,
    current: () => Pipeline | null
  ): Webhook {
    const count = this.metrics.counter('instore_meraki_posts_total', 'Meraki webhook posts, by result')
    const aps = apMap(this.o.site)
    const takeSlices = async (post: MerakiPost): Promise<void> => {
      for (let i = 0; i < post.observations.length; i += MERAKI_SLICE) {
        if (current() !== pipeline) return // stopped meanwhile
        const { per, unknownAps, fixes, implausible, unfit } = merakiReadings(post, aps, i, i + MERAKI_SLICE, this.o.site)
        if (unknownAps > 0) count.inc({ result: 'unknown_ap_records' }, unknownAps)
        if (unfit > 0) count.inc({ result: 'bad_client_id_records' }, unfit)
        if (implausible > 0) count.inc({ result: 'implausible_estimates' }, implausible)
        for (const b of toBatches(per, this.o.site, this.o.prefix)) accept(b.topic, b.payload)
        // Refused ids are counted with the readings' refusals (instore_rejected_total), by reason.
        const placed = { placed: 0, site_beacon: 0, refused: 0 }
        for (const f of fixes) placed[pipeline.placeExternal(f)]++
        if (placed.site_beacon > 0) count.inc({ result: 'site_beacon_estimates' }, placed.site_beacon)
        if (placed.placed > 0) {
          count.inc({ result: 'location_estimates' }, placed.placed)
          kick()
        }
        await new Promise(resolve => setImmediate(resolve))
      }
    }
    return {
      path: '/meraki',
      validator: m.validator,
      maxBytes: m.maxBytes ?? MERAKI_MAX_BYTES,
      secret: m.secret,
      refused: (status: number) => count.inc({ result: status === 403 ? 'bad_secret' : status === 413 ? 'too_large' : 'bad_body' }),
      post: (body: unknown) => {
        const r = checkMerakiPost(body, m)
        if (!r.ok) {
          count.inc({ result: r.result })
          return { status: r.status, text: r.reason }
        }
        count.inc({ result: 'ok' })
        if (r.noClientMac > 0) count.inc({ result: 'no_client_mac_records' }, r.noClientMac)
        this.work = this.work
          .then(async () => await takeSlices(r.post))
          .catch(err => {
            this.internalError()
            this.o.log.error('meraki post failed', { err: redactMacs((err as Error).message) })
          })
        return { status: 202, text: 'accepted' }
      }
    }
  }
}
