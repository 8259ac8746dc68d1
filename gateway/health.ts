// What /healthz says of a gateway: the problems someone should look at, each in words, and the
// dead letters the central server refused. A pure reading of the gateway's parts.
import { statfsSync } from 'node:fs'
import type { Site } from '../shared/site.ts'
import type { Health } from './io/http.ts'
import { EmbeddedBus, type Bus } from './io/bus.ts'
import type { Uplink } from './io/uplink.ts'
import type { GatewayStore } from './io/store.ts'
import type { PresenceEngine } from './presence/presence.ts'
import type { Pipeline } from './pipeline.ts'
import { implausibleBeaconsProblem, offSensorsProblem } from './estimation/self-calibration.ts'
import { senderLabel } from './ingest/clock-guard.ts'
import type { ConnectionLimits, RefusalSpell } from '../shared/connection-cap.ts'

export interface HealthInputs {
  site: Site
  dataDir: string
  clock: 'wall' | 'event'
  /** Wall mode: a sensor silent this long is reported, ms. */
  sensorSilenceMs: number
  bus: Bus | null
  uplink: Uplink | null
  siteOutdated: boolean
  store: GatewayStore | null
  pipeline: Pipeline | null
  presence: PresenceEngine | null
  /** When the pipeline last made progress, and when the gateway started (wall ms). */
  lastWorkAt: number
  startedAt: number
  /** Why the embedded broker is open to the network (gateway-options.ts openBroker), or null. */
  openBroker?: string | null
}

/** /healthz reports failing ticks this long after the last one, ms (wall time). */
const HEALTH_WINDOW_MS = 5 * 60_000
/** /healthz is degraded this long after the central server refused an event, ms (wall time); the list stays. */
const DEAD_LETTER_WINDOW_MS = 24 * 3_600_000
/** Messages waiting with no pipeline progress for this long mean processing has stopped, ms. */
const STALL_MS = 30_000
/** Wall mode: no tick due this long while readings arrive means ticks have stopped, ms (ticks are due every second). */
const TICKS_STALL_MS = 10_000
/** Readings of others refused as late after a lone sender moved the event clock before /healthz blames it (a few are a slow sensor). */
const LONE_LATE = 20
/** Messages in a row a sensor sends behind the event clock (all its readings late) before /healthz names it. */
const BEHIND_MESSAGES = 20
/** How long after the start /healthz says people counting left a kept state, ms (wall time): someone should see it, and it does not heal. */
const LEFT_STATE_MS = 24 * 3_600_000

export function gatewayHealth(g: HealthInputs): Health {
  const problems: string[] = []
  if (g.openBroker) problems.push(g.openBroker)
  if (g.bus && !g.bus.connected) problems.push('broker unreachable')
  const dropped = g.bus?.droppedByBroker?.()
  if (dropped && dropped.n > 0 && Date.now() - dropped.roseAt < HEALTH_WINDOW_MS)
    problems.push(
      `the broker dropped ${dropped.n} message(s) at its queue limits since the gateway started (for any client: e.g. Mosquitto's max_queued_messages): readings may be lost`
    )
  const cap = g.bus instanceof EmbeddedBus ? g.bus.broker?.connections : undefined
  for (const spell of cap?.refusing() ?? []) problems.push(brokerRefusing(spell, cap?.limits))
  const held = g.bus?.sessionDrops?.()
  if (held && held.at > 0 && Date.now() - held.at < HEALTH_WINDOW_MS)
    problems.push(
      `the embedded broker dropped ${held.messages} message(s) queued for MQTT sessions and ended ${held.sessions} stored session(s) at its bounds since the gateway started: clients leave sessions behind (clean: false), do not acknowledge or leave QoS 2 exchanges unfinished (instore_broker_queue_dropped_total, instore_broker_sessions_ended_total)`
    )
  if (g.uplink && !g.uplink.connected) problems.push(g.uplink.lastErrorShort ? (g.uplink.lastError ?? '') : `central unreachable: ${g.uplink.lastError ?? ''}`)
  else {
    // With no events to send the drain never calls: failing config pulls are what shows the server down.
    const down = g.uplink?.pullsUnreachable
    if (down) problems.push(`central unreachable: config pulls failing for ${Math.round((Date.now() - down.since) / 1000)} s: ${down.message.slice(0, 200)}`)
  }
  const cp = g.uplink?.configProblem
  if (cp) problems.push(`central config not applied (${cp.tries} tries since ${new Date(cp.since).toISOString()}): ${cp.message.slice(0, 200)}`)
  if (g.siteOutdated) problems.push('site changed on the central server: restart to apply it')
  const backlog = g.store?.backlog() ?? 0
  if (g.uplink && backlog > 10_000) problems.push(`outbox backlog ${backlog} events`)
  try {
    const fs = statfsSync(g.dataDir)
    const free = fs.bavail * fs.bsize
    if (free < 500 * 2 ** 20 || free / (fs.blocks * fs.bsize) < 0.05) problems.push(`disk filling: ${Math.round(free / 2 ** 20)} MiB free in ${g.dataDir}`)
  } catch {
    problems.push(`data folder ${g.dataDir} unreadable`)
  }
  const retry = g.store?.retry
  if (retry && (retry.waiting > 0 || (retry.lastFullAt !== null && Date.now() - retry.lastFullAt < HEALTH_WINDOW_MS && retry.droppedEvents > 0)))
    problems.push(`disk refusing writes (${retry.lastError.slice(0, 100)}): ${retry.waitingEvents} event(s) waiting in memory, ${retry.droppedEvents} dropped past the bound`)
  const p = g.pipeline
  if (p?.lastTickError && Date.now() - p.lastTickError.at < HEALTH_WINDOW_MS)
    problems.push(`ticks failing: ${p.tickErrors} skipped, last: ${p.lastTickError.message.slice(0, 200)}`)
  const guard = p?.clockGuard
  if (guard && guard.heldCount > 0 && Date.now() - guard.heldSinceWall > STALL_MS)
    problems.push(
      `${guard.heldCount} message(s) held for ${Math.round((Date.now() - guard.heldSinceWall) / 1000)} s: a jump of the event clock waits for other sensors to confirm it`
    )
  const lone = guard?.lastLone
  if (lone && lone.late >= LONE_LATE && Date.now() - lone.lateAt < HEALTH_WINDOW_MS)
    problems.push(`the event clock was moved ahead by ${senderLabel(lone.voter)} alone: ${lone.late} reading(s) of others refused as late since`)
  // Phones are named as such, never by their MQTT client id or phone id (/metrics says `phones`).
  // Phones are many (a client may cycle its ids): one line for all of them, as /metrics has one series.
  let phones = 0
  let phonesAheadMs = 0
  for (const [id, a] of p?.clockGuard.ahead ?? []) {
    if (Date.now() - a.at >= HEALTH_WINDOW_MS) continue
    if (senderLabel(id) === 'a phone') {
      phones++
      phonesAheadMs = Math.max(phonesAheadMs, a.aheadMs)
    } else problems.push(`${senderLabel(id)}'s clock runs ${Math.round(a.aheadMs / 1000)} s ahead of the others: its messages are refused`)
  }
  if (phones > 0)
    problems.push(
      phones === 1
        ? `a phone's clock runs ${Math.round(phonesAheadMs / 1000)} s ahead of the others: its messages are refused`
        : `${phones} phones' clocks run up to ${Math.round(phonesAheadMs / 1000)} s ahead of the others: their messages are refused`
    )
  for (const [id, b] of p?.clockGuard.behind ?? [])
    if (b.messages >= BEHIND_MESSAGES && Date.now() - b.at < HEALTH_WINDOW_MS)
      problems.push(`sensor ${id} sends ${Math.round(b.behindMs / 1000)} s behind the event clock: its readings are refused as late (its clock lags?)`)
  const floodedIds = p?.est.stableIds.flooded(p.clock.now()) ?? []
  if (floodedIds.length > 0)
    problems.push(`sensor(s) ${floodedIds.join(', ')} hear more new stable BLE ids a minute than people can walk in (one transmitter inventing ids?): their new ids open no visit`)
  if ((p?.est.scanIds.flooded(p.clock.now()) ?? []).length > 0)
    problems.push('phone scans name more new device ids a minute than people can walk in (one client inventing devices?): their new ids open no visit')
  const left = p?.people.learned.problem
  if (left != null && Date.now() - g.startedAt < LEFT_STATE_MS) problems.push(`people counting left what an earlier run learned (${left.slice(0, 200)}): learning from nothing`)
  const zf = g.presence?.lastFailure
  if (zf != null && Date.now() - zf < HEALTH_WINDOW_MS) problems.push(`zone state failing: ${g.presence?.failed ?? 0} subjects dropped`)
  if (p && p.backlog > 0 && Date.now() - g.lastWorkAt > STALL_MS) problems.push(`readings not being processed: ${p.backlog} messages waiting`)
  const steps = p?.clock.steps
  if (p && steps) {
    // On the pipeline's own wall clock (injected in tests): readings arriving while no tick has been due for several tick periods.
    const wall = p.clock.o.wall()
    const heard = Math.max(-Infinity, ...p.sensorLastSeen.values())
    if (wall - steps.lastDueAt > TICKS_STALL_MS && wall - heard < TICKS_STALL_MS)
      problems.push(`no tick for ${Math.round((wall - steps.lastDueAt) / 1000)} s while readings arrive: the tick schedule is off the wall clock`)
  }
  // A sensor hearing a site beacon implausibly (a clone beside it) is told before any blame on its mounting.
  const clones = p ? implausibleBeaconsProblem(p.est.calibrator.implausible.values(), p.clock.now() - HEALTH_WINDOW_MS) : null
  if (clones !== null) problems.push(clones)
  const offSensors = offSensorsProblem(p?.corrections ?? {})
  if (offSensors !== null) problems.push(offSensors)
  const silence = g.sensorSilenceMs
  if (g.clock === 'wall' && g.pipeline && Date.now() - g.startedAt > silence) {
    const now = Date.now()
    const quiet = [...g.site.sensors.keys()].filter(id => now - (g.pipeline?.sensorLastSeen.get(id) ?? -Infinity) > silence)
    if (quiet.length === g.site.sensors.size) problems.push(`no sensor heard for ${Math.round(silence / 60000)} minutes`)
    else if (quiet.length > 0) problems.push(`sensors silent for ${Math.round(silence / 60000)} minutes: ${quiet.join(', ')}`)
  }
  const dead = g.store?.deadLetters(10) ?? []
  const deadCount = dead.length === 0 ? 0 : (g.store?.deadLetterCount() ?? 0)
  if (dead.length > 0 && Date.now() - dead[0].at < DEAD_LETTER_WINDOW_MS)
    problems.push(`central refused ${deadCount} event(s): set aside as dead letters (newest ${dead[0].id}: HTTP ${dead[0].status})`)
  return {
    status: problems.length === 0 ? 'ok' : 'degraded',
    problems,
    storeId: g.site.storeId,
    devices: g.pipeline?.trackedDevices ?? 0,
    ...(deadCount > 0 ? { deadLetters: { count: deadCount, newest: dead.map(d => ({ ...d, at: new Date(d.at).toISOString() })) } } : {})
  }
}

/** The bound each refusal reason names, with the option that sets it. */
const BOUNDS: Record<RefusalSpell['reason'], [keyof ConnectionLimits, string, string]> = {
  total: ['maxConnections', 'connections in all', '--max-connections'],
  per_address: ['maxConnectionsPerAddress', 'connections from one address', '--max-connections-per-address'],
  per_login: ['maxConnectionsPerLogin', 'connections under one login', '--max-connections-per-login']
}

/** A spell of connections the embedded broker closed at a bound, in words (no address or login named: a phone's are personal). */
function brokerRefusing(s: RefusalSpell, limits: ConnectionLimits | undefined): string {
  const [key, what, option] = BOUNDS[s.reason]
  const secs = (ms: number) => Math.max(0, Math.round((Date.now() - ms) / 1000))
  return (
    `the embedded broker is at its bound of ${limits?.[key] ?? '?'} ${what} (${option}): ${s.n} connection(s) closed at it since ${secs(s.since)} s ago, ` +
    `the last ${secs(s.at)} s ago: sensors or phones may be kept out (instore_broker_connections_refused_total{reason="${s.reason}"})`
  )
}
