// What a store's gateway (gateway.ts) is started with, and the helpers its start-up uses: the
// store's secret kept in its data folder, the later clock a Meraki receiver needs, its MQTT bus.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Site } from '../shared/site.ts'
import type { Logger } from '../shared/log.ts'
import type { Campaign } from '../shared/campaigns.ts'
import type { BrokerListenOptions } from '../shared/broker.ts'
import type { PipelineOptions } from './pipeline.ts'
import { defaultClockOptions } from './ingest/clock.ts'
import type { DevicesFileT } from './ingest/identity.ts'
import { aliasMap, type ForeignConfig } from './ingest/foreign.ts'
import { brokerAuth, type AuthCounters, type AuthFile } from './io/broker-auth.ts'
import { ClientBus, EmbeddedBus, packetLimit, type Bus } from './io/bus.ts'
import { isLoopbackHost, outputGuard } from './io/output-guard.ts'
import type { Metrics } from './io/metrics.ts'
import { MERAKI_LATE_MS, type MerakiOptions } from './ingest/meraki.ts'
import { logDetail, readStoreSecret, SECRET_FILE } from './ingest/subjects.ts'

export interface GatewayOptions {
  site: Site
  /** Embedded broker port (0 = a free one). Ignored with `broker`. */
  port: number
  host: string
  /** External broker URL; without it the gateway runs its own. */
  broker?: string
  dataDir: string
  clock: 'wall' | 'event'
  /** Event mode: the share of the sensors heard recently that must agree to move the clock (default 0.2). */
  clockQuorum?: number
  /** HTTP port for /healthz and /metrics (0 = a free one). */
  httpPort: number
  prefix: string
  /** HMAC key for MAC hashing; default: generated once and kept in the data folder. */
  secret?: string
  log: Logger
  /** Pipeline settings beyond the defaults. */
  pipeline?: Partial<PipelineOptions>
  /** Wall mode: a sensor silent this long is reported by /healthz, ms. */
  sensorSilenceMs?: number
  /** Campaign rules when standalone (already validated). */
  campaigns?: Campaign[]
  /** Visit history kept, days (default 400). */
  retentionDays?: number
  /** Extra embedded-broker listeners (MQTT over TLS, over WebSockets) and the bounds on connections to all of them. */
  listeners?: Pick<BrokerListenOptions, 'tls' | 'wsPort' | 'limits' | 'sessions'>
  /** Scan BLE with this BlueZ adapter as the given site sensor. */
  ble?: { adapter: string; sensor: string; intervalMs?: number }
  /** Cisco Meraki Scanning API receiver on the HTTP port (path /meraki). */
  meraki?: MerakiOptions & { maxBytes?: number }
  /** Broker credentials and ACLs (embedded broker only); without it the broker is open. */
  auth?: AuthFile
  /** Foreign sensors' topic roots (default: each firmware's own). */
  foreign?: ForeignConfig
  /** Central server and this store's gateway token; without them the gateway runs standalone. */
  central?: { url: string; token: string; configEveryMs?: number }
  /**
   * Standalone: the apps' identity keys and consent (a devices file, e.g. the simulator's
   * `TRACE.devices.json`), to resolve their rotating EIDs. With `central`, the server's config
   * provides the material instead.
   */
  devices?: DevicesFileT
}

/** How often a live gateway saves what it learned about the site's radio, ms. */
/** A stop waits this long at most for the broker to take the outbox's last events, ms. */
export const STOP_FLUSH_MS = 5000
export const LEARNED_SAVE_MS = 5 * 60_000

export function loadOrCreateSecret(dir: string): string {
  const existing = readStoreSecret(dir)
  if (existing !== null) return existing
  const secret = randomBytes(32).toString('hex')
  writeFileSync(join(dir, SECRET_FILE), secret + '\n', { mode: 0o600 })
  return secret
}

/**
 * With Meraki, the gateway clock runs `lateMs` behind (the trade-off: every output of this store,
 * native sensors' too, comes that much later, so that a post's minute of records is placed at its
 * own times and still makes visits); records that old are not clock skew.
 */
export function lateClock(m: GatewayOptions['meraki']): { latenessMs: number; maxSkewMs: number } | object {
  if (!m) return {}
  const late = Math.max(m.lateMs ?? MERAKI_LATE_MS, defaultClockOptions.latenessMs)
  return { latenessMs: late, maxSkewMs: Math.max(late, defaultClockOptions.maxSkewMs) }
}

/** The largest message the gateway takes, native or foreign, bytes (unless `pipeline` says otherwise). */
export const MAX_MESSAGE_BYTES = 256 * 1024

/**
 * The gateway's MQTT bus: a client of `o.broker`, or its embedded broker, which refuses packets no
 * message could fit in (counted as `oversized` with the messages the pipeline refuses).
 */
export function gatewayBus(o: GatewayOptions, foreign: ForeignConfig, authCounters: AuthCounters, metrics: Metrics): Bus {
  const bus = o.broker ? new ClientBus(o.broker, `instore-gateway-${o.site.storeId}`) : embeddedBus(o, foreign, authCounters, metrics)
  // Output MQTT cannot carry (publish-limits.ts) is dropped, counted, and logged once per reason:
  // whatever made it (an id no check caught) would make it again every second.
  const refused = metrics.counter('instore_publish_refused_total', 'output messages not published because MQTT cannot carry them, by reason')
  const logged = new Set<string>()
  bus.onUnpublishable = (why, topic) => {
    refused.inc({ reason: why })
    if (logged.has(why)) return
    logged.add(why)
    o.log.error('output not published: MQTT cannot carry it', { reason: why, topicBytes: Buffer.byteLength(topic), topic: logDetail(topic, 120) })
  }
  return bus
}

function embeddedBus(o: GatewayOptions, foreign: ForeignConfig, authCounters: AuthCounters, metrics: Metrics): Bus {
  const rejected = metrics.counter('instore_rejected_total', 'messages or readings dropped, by reason')
  const retainRefused = metrics.counter(
    'instore_broker_retain_refused_total',
    'client publishes whose retain flag the embedded broker refused (delivered live, not stored), by reason'
  )
  // Without logins, the output topics are still the gateway's alone (output-guard.ts).
  const auth = o.auth
    ? brokerAuth(o.auth, { prefix: o.prefix, storeId: o.site.storeId, aliases: aliasMap(o.site), foreign }, authCounters)
    : { authorizePublish: outputGuard(o.prefix, () => authCounters.deniedPublish++) }
  const open = openBroker(o)
  if (open !== null) o.log.warn(open, { host: o.host, port: o.port })
  return new EmbeddedBus(
    o.port,
    o.host,
    auth,
    {
      ...o.listeners,
      maxPacketBytes: packetLimit(o.pipeline?.maxMessageBytes ?? MAX_MESSAGE_BYTES),
      onOversized: () => rejected.inc({ reason: 'oversized' })
    },
    why => retainRefused.inc({ reason: why })
  )
}

/**
 * Why the embedded broker is open to the store's network, or null: it listens on an address other
 * machines reach and takes anyone without a login. Anyone on that network then reads every
 * shopper's position and events (the gateway logs it at start and /healthz reports it).
 */
export function openBroker(o: Pick<GatewayOptions, 'broker' | 'auth' | 'host'>): string | null {
  if (o.broker || o.auth || isLoopbackHost(o.host)) return null
  return `embedded broker open to the network: it listens on ${o.host} without --auth, so anyone who reaches it reads every position and event (give it --auth FILE, or --host 127.0.0.1)`
}
