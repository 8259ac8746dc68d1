// One store's gateway: a bus (embedded broker or client), the pipeline, and the HTTP port.
// Constructor assigns; start() does the work; stop() releases every resource it took.
import { mkdirSync } from 'node:fs'
import type { Server } from 'node:http'
import { topics } from '../shared/mqtt-topics.ts'
import { Pipeline, radioKey, type LearnedRadio } from './pipeline.ts'
import { EmbeddedBus, type Bus, type MessageOrigin } from './io/bus.ts'
import { Metrics } from './io/metrics.ts'
import { startHttp, type Health } from './io/http.ts'
import { defaultClockOptions } from './ingest/clock.ts'
import { GatewayStore } from './io/store.ts'
import { CampaignEngine } from './campaigns/campaigns.ts'
import { PresenceEngine, presenceOptions } from './presence/presence.ts'
import { Uplink } from './io/uplink.ts'
import type { GatewayConfigT } from '../shared/gateway-config.ts'
import { keepConfig, keptConfig } from './io/kept-config.ts'
import { IdentityResolver, materialFromFile } from './ingest/identity.ts'
import { foreignTopics, DEFAULT_FOREIGN } from './ingest/foreign.ts'
import type { AuthCounters } from './io/broker-auth.ts'
import { MerakiReceiver } from './meraki-receiver.ts'
import { BleScanner } from './io/ble-scanner.ts'
import { keyedBeacons } from './ingest/site-beacons.ts'
import { logDetail, SubjectHasher } from './ingest/subjects.ts'
import { gatewayHealth } from './health.ts'
import { WorkPump, EXTERNAL_HOLD_ABOVE } from './work-pump.ts'
import { LEARNED_SAVE_MS, MAX_MESSAGE_BYTES, STOP_FLUSH_MS, gatewayBus, lateClock, loadOrCreateSecret, openBroker, type GatewayOptions } from './gateway-options.ts'
import { collectStoreMetrics } from './gateway-metrics.ts'

export type { GatewayOptions } from './gateway-options.ts'

export class Gateway {
  readonly metrics = new Metrics()
  private readonly published = this.metrics.counter('instore_published_total', 'messages the gateway published, by kind')
  private readonly internalErrors = this.metrics.counter('instore_internal_errors_total', 'unexpected errors while handling a message')
  readonly authCounters: AuthCounters = { failedLogins: 0, rateLimited: 0, deniedPublish: 0, deniedSubscribe: 0, clientIdTaken: 0, revoked: 0, reloadRefused: 0 }
  pipeline: Pipeline | null = null
  store: GatewayStore | null = null
  campaigns: CampaignEngine | null = null
  presence: PresenceEngine | null = null
  /** Apps' rotating EIDs → stable subjects, for devices with presence consent only. */
  readonly identity = new IdentityResolver()
  bus: Bus | null = null
  uplink: Uplink | null = null
  scanner: BleScanner | null = null
  private siteOutdated = false
  /** The Cisco Meraki receiver on the HTTP port (with `meraki`). */
  private meraki: MerakiReceiver | null = null
  /** Meraki posts still being taken in, in turn. */
  get merakiWork(): Promise<void> {
    return this.meraki?.work ?? Promise.resolve()
  }
  private publishing: Promise<void> = Promise.resolve()
  private http: Server | null = null
  private timer: NodeJS.Timeout | null = null
  private saveTimer: NodeJS.Timeout | null = null
  private retryTimer: NodeJS.Timeout | null = null
  private startedAt = 0
  httpPort = 0
  /** The pipeline's work loop and the backpressure of what it publishes. */
  private readonly work = new WorkPump(
    () => this.pipeline,
    (err, topic) => {
      this.internalErrors.inc()
      this.o.log.error('internal error', { err: err.message, ...(topic !== undefined ? { topic: logDetail(topic, 200) } : {}) })
    }
  )

  constructor(readonly o: GatewayOptions) {}

  get mqttUrl(): string {
    return this.bus?.url ?? ''
  }

  async start(): Promise<void> {
    const { o } = this
    mkdirSync(o.dataDir, { recursive: true })
    const secret = o.secret ?? loadOrCreateSecret(o.dataDir)
    const storeId = o.site.storeId
    const foreign = o.foreign ?? DEFAULT_FOREIGN
    if (o.broker) this.work.holdAbove = EXTERNAL_HOLD_ABOVE
    const bus: Bus = gatewayBus(o, foreign, this.authCounters, this.metrics)
    const authMetric = this.metrics.counter('instore_broker_auth_total', 'broker logins refused, publishes or subscriptions denied, clients revoked by a reload, reloads refused')
    this.metrics.onCollect(() => {
      for (const [k, v] of Object.entries(this.authCounters)) authMetric.set({ result: k }, v)
    })
    const published = this.published
    const store = (this.store = Object.assign(new GatewayStore(o.dataDir), { standalone: o.central === undefined }))
    this.campaigns = new CampaignEngine(storeId, o.site.timezone, store)
    this.campaigns.setCampaigns(o.campaigns ?? [])
    if (o.devices) this.identity.replace(materialFromFile(o.devices))
    // With a registry (the central server's, or a devices file), consent is what it recorded:
    // only devices registered with marketing consent can be triggered.
    if (o.devices || o.central) this.campaigns.setConsent(s => this.identity.marketing(s))
    this.presence = new PresenceEngine(o.site, store, this.campaigns, presenceOptions(o.site, o.retentionDays !== undefined ? { retentionDays: o.retentionDays } : {}), o.log)
    collectStoreMetrics(this.metrics, store, this)
    this.pipeline = new Pipeline(
      // The site's beacons under the keys readings of them carry (ingest/site-beacons.ts).
      keyedBeacons(o.site, new SubjectHasher(secret), o.log),
      {
        prefix: o.prefix,
        secret,
        clock: { ...defaultClockOptions, mode: o.clock, ...lateClock(o.meraki), ...(o.clockQuorum !== undefined ? { quorumShare: o.clockQuorum } : {}) },
        ...(o.meraki ? { reorder: { aheadMs: defaultClockOptions.latenessMs } } : {}),
        tickMs: 1000,
        presenceMs: { ble: 10_000, wifi: 120_000 },
        maxMessageBytes: MAX_MESSAGE_BYTES,
        selfCalibration: true,
        identity: this.identity,
        foreign,
        ...o.pipeline
      },
      {
        position: p => {
          this.work.publish(bus, topics.position(o.prefix, storeId, p.subject), JSON.stringify(p), { qos: 0 })
          published.inc({ kind: 'position' })
        },
        occupancy: occ => {
          this.work.publish(bus, topics.occupancy(o.prefix, storeId), JSON.stringify(occ), { qos: 1, retain: true })
          published.inc({ kind: 'occupancy' })
        },
        events: () => {
          void this.flushOutbox()
          this.uplink?.kick()
        },
        footfall: f => {
          this.work.publish(bus, topics.footfall(o.prefix, storeId), JSON.stringify(f), { qos: 1, retain: true })
        }
      },
      this.metrics,
      o.log,
      this.presence
    )
    // A gateway that cannot listen must not run: release what was taken so the process exits.
    await bus
      .start([`${o.prefix}/+/sensors/#`, `${o.prefix}/+/devices/+/scans`, ...foreignTopics(foreign)], (topic, payload, done, from) => this.accept(topic, payload, done, from))
      .catch(async (err: unknown) => {
        await bus.stop().catch(() => {})
        await this.stop()
        throw err
      })
    this.bus = bus
    // Events accepted before a crash but never published go out first, with their original ids.
    this.flushOutbox()
    if (o.central) {
      // The last config applied, kept in SQLite: a gateway restarted while the server is away still
      // resolves consenting apps and runs their campaigns (its keys expire within two epochs anyway).
      const kept = keptConfig(store, storeId)
      if (kept) await this.applyConfig(kept)
      this.uplink = new Uplink(
        {
          central: o.central.url.replace(/\/$/, ''),
          token: o.central.token,
          storeId,
          batch: 500,
          minBackoffMs: 500,
          maxBackoffMs: 30_000,
          configEveryMs: o.central.configEveryMs ?? 10_000,
          ...(kept ? { configVersion: kept.version } : {})
        },
        store,
        o.log,
        async c => {
          await this.applyConfig(c)
          this.keepConfig(c.version)
        }
      )
      this.uplink.liveSnapshot = () => {
        const p = this.pipeline
        const now = p?.clock.now() ?? NaN
        // Event time starts with the first reading: nothing to show before it.
        if (!p || !Number.isFinite(now)) return null
        return { ts: now, positions: p.positions(), occupancy: p.lastOccupancyMessage, footfall: { ...p.footfall.counts(now), ...p.people.visitors(now) } }
      }
      this.uplink.start()
    }
    this.retryTimer = store.retry.retryOnTimer(() => void this.flushOutbox())
    if (o.clock === 'wall') {
      // Live, what self-calibration learned survives restarts (saved every 5 minutes and at stop).
      // A replay on the event clock depends on its trace alone: it starts from nothing, saves nothing.
      this.resumeLearned()
      this.saveTimer = setInterval(() => this.saveLearned(), LEARNED_SAVE_MS)
      this.timer = setInterval(() => {
        this.work.kick()
      }, 200)
    }
    if (o.ble) {
      const sensor = o.ble.sensor
      this.scanner = new BleScanner(
        { adapter: o.ble.adapter, sensor, intervalMs: o.ble.intervalMs ?? 500 },
        (id, readings) => this.accept(topics.readings(o.prefix, storeId, id), Buffer.from(JSON.stringify({ readings }))),
        o.log
      )
      await this.scanner.start()
    }
    this.meraki = new MerakiReceiver({ site: o.site, prefix: o.prefix, log: o.log }, this.metrics, () => this.internalErrors.inc())
    const webhook =
      o.meraki &&
      this.meraki.webhook(
        o.meraki,
        this.pipeline,
        (topic, payload) => this.accept(topic, payload),
        () => {
          this.work.kick()
        },
        () => this.pipeline
      )
    // A gateway without /healthz must not run (its supervisor could not see it): release what was
    // taken (broker, uplink, timers, store) so start() fails and the process exits non-zero.
    const http = await startHttp(o.httpPort, o.host, { health: () => this.health(), metrics: () => this.metrics.text(), ...(webhook ? { webhook } : {}) }).catch(
      async (err: unknown) => {
        await this.stop()
        throw err
      }
    )
    this.http = http.server
    this.httpPort = http.port
    this.startedAt = Date.now()
    const b = bus instanceof EmbeddedBus ? bus.broker : null
    o.log.info('gateway started', {
      storeId,
      mqtt: bus.url,
      ...(b?.tlsPort ? { mqtts: `mqtts://${o.host}:${b.tlsPort}` } : {}),
      ...(b?.wsPort ? { ws: `ws://${o.host}:${b.wsPort}` } : {}),
      http: `http://${o.host}:${http.port}`,
      clock: o.clock,
      sensors: o.site.sensors.size
    })
  }

  /** Takes one message into the pipeline and works it through (`WorkPump`); `done` once it is idle again. */
  private accept(topic: string, payload: Buffer, done?: () => void, from?: MessageOrigin): void {
    // With --auth a phone's login is its topic's phone id: one login under several client ids is one voter.
    this.work.accept(topic, payload, done, this.o.auth && from ? { retained: from.retained, login: from.login } : from)
  }

  /** Publishes unpublished outbox events in order, then marks them; chained (never reordered), a failure left for the next call. */
  flushOutbox(): Promise<void> {
    this.publishing = this.publishing
      .then(async () => {
        const store = this.store
        const bus = this.bus
        if (!store || !bus) return
        for (let rows = store.unpublished(); rows.length > 0; rows = store.unpublished()) {
          await Promise.all(rows.map(async r => await bus.publish(topics.event(this.o.prefix, this.o.site.storeId, r.type), r.body, { qos: 1 })))
          store.markPublished(rows[rows.length - 1].seq)
          this.published.inc({ kind: 'event' }, rows.length)
        }
      })
      .catch(err => {
        this.o.log.warn('event publish failed; will retry', { err: (err as Error).message })
      })
    return this.publishing
  }

  /**
   * Central config (a full reply or a delta): campaigns, resolution material, consent and erasures
   * take effect at once. A device whose presence consent is gone is forgotten here, so no further
   * event about it can be made; an erased one loses every row and every in-memory trace.
   */
  async applyConfig(c: GatewayConfigT): Promise<void> {
    if (c.site !== undefined) {
      // A new site (geometry, sensors) rebuilds every model: that takes a restart, which /healthz asks for.
      const outdated = JSON.stringify(c.site) !== JSON.stringify(this.o.site.file)
      if (outdated && !this.siteOutdated) this.o.log.warn('the central server has a different site file; restart the gateway to apply it')
      this.siteOutdated = outdated
    }
    if (c.campaigns !== undefined) {
      this.centralCampaigns = c.campaigns
      this.campaigns?.setCampaigns(c.campaigns)
      this.presence?.refreshThresholds()
    }
    if (c.full) this.identity.replace(c.devices)
    else for (const d of c.devices) this.identity.upsert(d)
    for (const subject of c.removed) this.identity.remove(subject)
    const gone = new Set([...c.removed, ...c.erasures])
    // After a full reply, open state about an app subject the registry no longer lists goes too.
    if (c.full) for (const s of this.presence?.subjects() ?? []) if (s.startsWith('app:') && !this.identity.has(s)) gone.add(s)
    // In slices that yield (store.ts): a config may erase a six-figure number of subjects.
    const erased = () => this.pipeline?.people.saveErased()
    if (this.store) await this.store.eraseInSlices([...gone], s => this.forget(s), erased)
    else for (const subject of gone) this.forget(subject)
  }

  /** The campaigns the central server gave last (kept with the config). */
  private centralCampaigns: GatewayConfigT['campaigns'] = undefined

  /** Saves what the applied config amounts to now, as one full config of that version. */
  private keepConfig(version: string): void {
    if (!this.store) return
    try {
      keepConfig(this.store, {
        storeId: this.o.site.storeId,
        version,
        full: true,
        devices: this.identity.all(),
        removed: [],
        erasures: [],
        ...(this.centralCampaigns ? { campaigns: this.centralCampaigns } : {})
      })
    } catch (err) {
      this.o.log.warn('could not keep the central config', { err: (err as Error).message })
    }
  }

  /** Forgets everything about a subject: resolution material, in-memory tracks and state, SQLite rows, kept learning. Returns where it was found. */
  erase(subject: string): string[] {
    const found = this.forget(subject)
    const rows = this.store?.erase([subject], () => this.pipeline?.people.saveErased()) ?? 0
    if (rows > 0) found.push(`sqlite:${rows}`)
    return found
  }

  /** The in-memory part of erase(): resolution material, tracks, zone state. */
  private forget(subject: string): string[] {
    const found: string[] = []
    if (this.identity.has(subject)) {
      this.identity.remove(subject)
      found.push('identity')
    }
    found.push(...(this.pipeline?.forget(subject) ?? []))
    if (this.presence?.forget(subject) === true) found.push('presence')
    return found
  }

  /** Where the gateway still holds a subject in memory (debug accessor for erasure tests). */
  heldInMemory(subject: string): string[] {
    return [...(this.identity.has(subject) ? ['identity'] : []), ...(this.pipeline?.holds(subject) ?? []), ...(this.presence?.has(subject) === true ? ['presence'] : [])]
  }

  health(): Health {
    return gatewayHealth({
      site: this.o.site,
      dataDir: this.o.dataDir,
      clock: this.o.clock,
      sensorSilenceMs: this.o.sensorSilenceMs ?? 300_000,
      bus: this.bus,
      uplink: this.uplink,
      siteOutdated: this.siteOutdated,
      store: this.store,
      pipeline: this.pipeline,
      presence: this.presence,
      lastWorkAt: this.work.lastWorkAt,
      startedAt: this.startedAt,
      openBroker: openBroker(this.o)
    })
  }

  /** Takes up the radio learning a previous live run saved, if it was for this sensor setup. */
  private resumeLearned(): void {
    const saved = this.store?.loadLearned('radio')
    const p = this.pipeline
    if (!saved || !p) return
    if (saved.key !== radioKey(this.o.site)) {
      this.o.log.info('radio learning was saved for another sensor setup: learning afresh', { savedAt: new Date(saved.ts).toISOString() })
      return
    }
    try {
      p.restoreLearned(JSON.parse(saved.state) as LearnedRadio)
      this.o.log.info('radio learning resumed', { savedAt: new Date(saved.ts).toISOString(), corrections: p.corrections })
    } catch (err) {
      this.o.log.warn('saved radio learning unreadable: learning afresh', { err: (err as Error).message })
    }
  }

  private saveLearned(): void {
    if (this.o.clock !== 'wall' || !this.store || !this.pipeline) return
    try {
      this.store.saveLearned('radio', radioKey(this.o.site), JSON.stringify(this.pipeline.learned()), Date.now())
    } catch (err) {
      this.o.log.warn('could not save radio learning', { err: (err as Error).message })
    }
  }

  async stop(): Promise<void> {
    // A stop must not wait on a broker that no longer takes publishes.
    this.work.stopping()
    for (const t of [this.timer, this.saveTimer, this.retryTimer]) if (t) clearInterval(t)
    this.timer = this.saveTimer = null
    await this.scanner?.stop()
    this.scanner = null
    await this.merakiWork
    // Drain: run the ticks the clock already allows, close open visits, publish what is left.
    await this.work.done
    this.pipeline?.close()
    this.presence?.closeAll()
    // What a broker that is gone cannot take stays in the outbox for the next start; the bus's stop then ends the wait.
    await Promise.race([this.flushOutbox(), new Promise(resolve => setTimeout(resolve, STOP_FLUSH_MS).unref())])
    await this.uplink?.stop()
    this.uplink = null
    await this.bus?.stop()
    this.bus = null
    if (this.http) await new Promise<void>(resolve => this.http?.close(() => resolve()))
    this.http = null
    this.saveLearned()
    await this.publishing
    this.store?.close()
    this.store = null
    this.o.log.info('gateway stopped', { storeId: this.o.site.storeId })
  }
}
