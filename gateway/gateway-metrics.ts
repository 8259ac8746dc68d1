// The gauges and counters of a store's campaigns, outbox, zone state and identities, read at each
// scrape of /metrics from the parts the gateway holds (gateway.ts): null until it has started them.
import type { Metrics } from './io/metrics.ts'
import type { GatewayStore } from './io/store.ts'
import { SUPPRESS_REASONS, type CampaignEngine } from './campaigns/campaigns.ts'
import type { PresenceEngine } from './presence/presence.ts'
import type { IdentityResolver } from './ingest/identity.ts'
import { EmbeddedBus, type Bus } from './io/bus.ts'
import type { Uplink } from './io/uplink.ts'

export function collectStoreMetrics(
  metrics: Metrics,
  store: GatewayStore,
  g: { campaigns: CampaignEngine | null; presence: PresenceEngine | null; identity: IdentityResolver; bus: Bus | null; uplink?: Uplink | null }
): void {
  const suppressed = metrics.counter('instore_trigger_suppressed_total', 'campaign matches not fired, by reason')
  const fired = metrics.counter('instore_triggers_fired_total', 'campaign triggers fired')
  metrics.onCollect(() => {
    for (const r of SUPPRESS_REASONS) suppressed.set({ reason: r }, g.campaigns?.suppressed[r] ?? 0)
    fired.set({}, g.campaigns?.fired ?? 0)
    const dropped = g.bus?.droppedByBroker?.()
    if (dropped)
      metrics.gauge('instore_broker_dropped', 'messages the external broker dropped at its queue limits while the gateway ran, for any of its clients').set({}, dropped.n)
    const conns = g.bus instanceof EmbeddedBus ? g.bus.broker?.connections : undefined
    if (conns) {
      metrics.gauge('instore_broker_connections', 'connections open on the embedded broker').set({}, conns.open)
      const refused = metrics.counter('instore_broker_connections_refused_total', 'connections the embedded broker closed on arrival, by the bound met')
      for (const [reason, n] of Object.entries(conns.refused)) refused.set({ reason }, n)
      metrics.counter('instore_broker_connect_timeouts_total', 'connections the embedded broker closed for sending no CONNECT in time').set({}, conns.connectTimeouts)
    }
    const sessions = g.bus instanceof EmbeddedBus ? g.bus.broker?.sessions : undefined
    if (sessions) {
      metrics.gauge('instore_broker_stored_sessions', 'stored MQTT sessions (clean: false) of clients that are away, on the embedded broker').set({}, sessions.storedSessions)
      metrics.gauge('instore_broker_queued_messages', 'QoS 1 messages queued for MQTT sessions on the embedded broker').set({}, sessions.queuedMessages)
      const queueDrops = metrics.counter(
        'instore_broker_queue_dropped_total',
        "QoS 1 messages the embedded broker dropped from MQTT sessions' queues, and QoS 2 messages it refused past the bound on those awaiting PUBREL (incoming_*), by the bound met"
      )
      for (const [reason, n] of Object.entries(sessions.dropped)) queueDrops.set({ reason }, n)
      const ended = metrics.counter('instore_broker_sessions_ended_total', 'stored MQTT sessions the embedded broker ended, by the bound met')
      for (const [reason, n] of Object.entries(sessions.ended)) ended.set({ reason }, n)
      metrics
        .counter('instore_broker_slow_readers_cut_total', 'connections the embedded broker closed for leaving 4 MiB of its output unread')
        .set({}, g.bus instanceof EmbeddedBus ? (g.bus.broker?.slowReaders.cut ?? 0) : 0)
    }
    metrics.gauge('instore_outbox_backlog', 'events not yet accepted by the central server').set({}, store.backlog())
    metrics.gauge('instore_zone_tracks', 'devices with zone state').set({}, g.presence?.size ?? 0)
    metrics.gauge('instore_identity_devices', 'devices whose EIDs this gateway can resolve (presence consent)').set({}, g.identity.size)
    const eids = metrics.counter('instore_eid_readings_total', 'EID readings, by result (unresolved ones are anonymous)')
    eids.set({ result: 'resolved' }, g.identity.resolved)
    eids.set({ result: 'unresolved' }, g.identity.unresolved)
    const ids = metrics.counter('instore_device_ids_total', 'device ids (phone-scan ids, bare uuids), by result (unresolved ones are anonymous)')
    ids.set({ result: 'resolved' }, g.identity.devicesResolved)
    ids.set({ result: 'unresolved' }, g.identity.devicesUnresolved)
    ids.set({ result: 'unproven' }, g.identity.devicesUnproven)
    metrics.gauge('instore_store_waiting_writes', 'writes the disk refused (full), waiting in memory to be stored').set({}, store.retry.waiting)
    metrics.gauge('instore_store_waiting_events', 'events the disk refused (full), waiting in memory to be stored').set({}, store.retry.waitingEvents)
    metrics.counter('instore_store_dropped_events_total', 'events dropped while the disk was full, past the bound of what may wait in memory').set({}, store.retry.droppedEvents)
    metrics.counter('instore_outbox_expired_total', 'events dropped from the outbox past --retention-days before the central server took them').set({}, store.expiredEvents)
    metrics.gauge('instore_dead_letters', 'events the central server refused one by one, set aside (listed in /healthz)').set({}, store.deadLetterCount())
    const zs = metrics.counter('instore_zone_state_dropped_total', 'zone states dropped, by reason (misfit: saved for another site or format; failed: the zone logic threw)')
    zs.set({ reason: 'misfit' }, g.presence?.dropped ?? 0)
    zs.set({ reason: 'failed' }, g.presence?.failed ?? 0)
    const up = g.uplink
    if (up) {
      metrics.counter('instore_uplink_oversized_total', 'answers of the central server longer than the gateway reads (cut short there)').set({}, up.oversizedReplies)
      metrics
        .counter('instore_uplink_short_replies_total', 'answers of the central server saying it took fewer events than posted: no delivery, kept and sent again')
        .set({}, up.shortReplies)
      metrics
        .counter('instore_uplink_over_replies_total', 'answers of the central server saying it took more events than posted: taken as delivery (a central misreport)')
        .set({}, up.overReplies)
      const redirects = metrics.counter('instore_uplink_redirects_total', 'answers of the central server that were redirects (3xx, never followed: no delivery), by call')
      for (const [call, n] of Object.entries(up.redirects)) redirects.set({ call }, n)
      const failed = metrics.counter('instore_config_failures_total', 'central config pulls that failed, by reason (unreachable, refused, apply)')
      for (const [reason, n] of Object.entries(up.configFailures)) failed.set({ reason }, n)
    }
  })
}
