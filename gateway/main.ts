// instore-gateway: one store's gateway (contract §8).
import { statSync } from 'node:fs'
import { configFile, runCommand, onStopSignal, UsageError } from '../shared/cli.ts'
import { createLogger, type Level } from '../shared/log.ts'
import { loadSiteFile } from '../shared/site.ts'
import { DEFAULT_PREFIX } from '../shared/mqtt-topics.ts'
import { Gateway } from './gateway.ts'
import { staleBuild } from './build-check.ts'
import { loadCampaignsFile } from '../shared/campaigns.ts'
import { loadAuthFile } from './io/broker-auth.ts'
import { devicesFileExposure, loadDevicesFile } from './ingest/identity.ts'
import { DEFAULT_FOREIGN, foreignProblems, parseTheengs, type ForeignConfig } from './ingest/foreign.ts'
import { DEFAULT_CONNECTION_LIMITS } from '../shared/connection-cap.ts'
import { DEFAULT_SESSION_LIMITS } from '../shared/session-store.ts'

/** How long a stop may take before the process exits anyway, ms. */
const STOP_LIMIT_MS = 30_000

const spec = {
  name: 'instore-gateway',
  summary: "one store's gateway: RSSI readings in over MQTT, positions, occupancy and events out",
  usage: 'instore-gateway --site FILE [--port N] [--broker URL] [--data DIR] [--clock wall|event] [--http-port N]',
  options: {
    config: { type: 'string', doc: 'JSON file of these options (keys are the option names); the command line wins' },
    site: { type: 'string', path: true, doc: 'site file (contract §1)', required: true },
    port: { type: 'number', doc: 'embedded broker port; 0 picks a free one', default: 1883 },
    host: { type: 'string', doc: 'address to listen on', default: '127.0.0.1' },
    broker: { type: 'string', doc: 'use this existing broker instead of the embedded one (mqtt://host:port)' },
    data: { type: 'string', path: true, doc: "folder for the gateway's files", default: './data' },
    central: { type: 'string', doc: 'central server URL (events uplink)' },
    token: { type: 'string', doc: 'gateway token for the central server' },
    campaigns: { type: 'string', path: true, doc: 'campaign rules (JSON array) when running standalone' },
    devices: { type: 'string', path: true, doc: "apps' identity keys and consent (JSON array, e.g. a simulator's TRACE.devices.json) to resolve their EIDs when standalone" },
    clock: { type: 'string', doc: 'wall (live) or event (replay: time from the readings only)', default: 'wall', choices: ['wall', 'event'] },
    'clock-quorum': {
      type: 'number',
      doc: 'event clock: the share of the sensors heard in the last 15 minutes (event time) that must agree to move the clock past the others, at least 2',
      default: 0.2
    },
    'http-port': { type: 'number', doc: 'HTTP port for /healthz and /metrics; 0 picks a free one', default: 8081 },
    workers: {
      type: 'number',
      doc: "threads beside the main one that work out each tick's shop-entry tests and solve its fixes (default 0: all on the main thread; the cores less one is the most a box can use); the output is the same with any number"
    },
    prefix: { type: 'string', doc: 'MQTT topic prefix', default: DEFAULT_PREFIX },
    secret: { type: 'string', doc: 'store secret for MAC hashing (default: generated once into the data folder)' },
    'tls-port': { type: 'number', doc: 'also listen for MQTT over TLS on this port (needs --tls-cert and --tls-key)' },
    'tls-cert': { type: 'string', path: true, doc: 'TLS certificate (PEM)' },
    'tls-key': { type: 'string', path: true, doc: 'TLS private key (PEM)' },
    'ws-port': { type: 'number', doc: 'also listen for MQTT over WebSockets on this port (in-store apps)' },
    'max-connections': {
      type: 'number',
      doc: "embedded broker: connections open at most on all its listeners; past it a new one is closed (keep it well under the process's open-file limit)",
      default: DEFAULT_CONNECTION_LIMITS.maxConnections
    },
    'max-connections-per-address': {
      type: 'number',
      doc: 'embedded broker: connections open at most from one remote address',
      default: DEFAULT_CONNECTION_LIMITS.maxConnectionsPerAddress
    },
    'max-connections-per-login': {
      type: 'number',
      doc: "embedded broker with --auth: connections open at most under one login; one more closes that login's oldest",
      default: DEFAULT_CONNECTION_LIMITS.maxConnectionsPerLogin
    },
    'max-stored-sessions': {
      type: 'number',
      doc: 'embedded broker: stored sessions (clean: false) kept for clients that are away; past it the one away longest is ended',
      default: DEFAULT_SESSION_LIMITS.maxStoredSessions
    },
    'session-expiry-ms': {
      type: 'number',
      doc: 'embedded broker: a stored session whose client has been away this long is ended, with what was queued for it',
      default: DEFAULT_SESSION_LIMITS.sessionExpiryMs
    },
    'max-queued-messages': {
      type: 'number',
      doc: 'embedded broker: QoS 1 messages queued at most for one session (client away, or not acknowledging); past it the oldest is dropped. Also the QoS 2 messages one session may hold awaiting PUBREL; past it the client is closed',
      default: DEFAULT_SESSION_LIMITS.maxQueuedPerSession
    },
    'max-queued-mib': {
      type: 'number',
      doc: 'embedded broker: MiB queued at most for all sessions together; past it the longest queue drops its oldest. As much again for QoS 2 messages awaiting PUBREL; past it the sending client is closed',
      default: DEFAULT_SESSION_LIMITS.maxQueuedBytes / 2 ** 20
    },
    'ble-adapter': { type: 'string', doc: 'scan BLE with this BlueZ adapter (e.g. hci0) as one more sensor' },
    'ble-sensor': { type: 'string', doc: 'the site sensor the adapter stands for (its position)' },
    'meraki-validator': { type: 'string', doc: 'enable the Cisco Meraki Scanning API receiver at /meraki on the HTTP port; the validator string' },
    'meraki-secret': { type: 'string', doc: 'the shared secret Meraki posts with' },
    'espresense-root': { type: 'string', doc: 'ESPresense topic root (its readings: ROOT/devices/<id>/<room>)', default: DEFAULT_FOREIGN.espresense },
    'omg-root': { type: 'string', doc: 'OpenMQTTGateway base topic (its readings: ROOT/<gateway>/BTtoMQTT/<MAC>)', default: DEFAULT_FOREIGN.omg },
    'theengs-topics': { type: 'string', doc: 'Theengs Gateway publish_topics and the site sensor each stands for: TOPIC=SENSOR[,TOPIC=SENSOR]' },
    'meraki-late-ms': { type: 'number', doc: 'with Meraki: records this old are still placed at their own time (outputs run this far behind), ms', default: 90_000 },
    auth: { type: 'string', path: true, doc: 'broker credentials and ACLs (JSON: sensors, phones, readers → scrypt hashes from instore-passwd)' },
    'retention-days': { type: 'number', doc: 'visit history kept for frequency, days', default: 400 },
    'log-level': { type: 'string', doc: 'debug, info, warn or error', default: 'info', choices: ['debug', 'info', 'warn', 'error'] }
  }
} as const

await runCommand(spec, async o => {
  const log = createLogger({ level: o['log-level'] as Level, base: { name: 'instore-gateway' } })
  const stale = staleBuild(import.meta.url)
  if (stale !== null) log.error('this build is older than its source: it runs the code as it was at the build (npm run build, then restart)', { changed: stale })
  for (const p of ['port', 'http-port'] as const) {
    if (!Number.isInteger(o[p]) || o[p] < 0 || o[p] > 65535) throw new UsageError(`--${p} must be a port number 0-65535`)
  }
  if (o.central && !o.token) throw new UsageError('--central needs --token')
  if (!(o['retention-days'] >= 1)) throw new UsageError('--retention-days must be at least 1')
  if (!(o['clock-quorum'] > 0 && o['clock-quorum'] <= 1)) throw new UsageError('--clock-quorum must be a share: more than 0, at most 1')
  if (o.workers !== undefined && !(Number.isInteger(o.workers) && o.workers >= 0 && o.workers <= 64)) throw new UsageError('--workers must be a whole number 0-64')
  const site = loadSiteFile(o.site)
  const campaigns = o.campaigns ? loadCampaignsFile(o.campaigns) : []
  if (o.devices && o.central) throw new UsageError('--devices is for standalone gateways: with --central the server provides the resolution material')
  let devices
  try {
    devices = o.devices ? loadDevicesFile(o.devices) : undefined
  } catch (err) {
    throw new UsageError(`--devices: ${(err as Error).message.split('\n')[0]}`)
  }
  const exposed = o.devices ? devicesFileExposure(o.devices) : null
  if (o.devices && exposed !== null)
    log.warn('devices file is readable by group or others: its identity keys let anyone follow those phones (chmod 600 it)', { path: o.devices, mode: exposed.toString(8) })
  // The config may hold the store's gateway token and secrets, the auth file the logins' hashes:
  // the unit's group (docs/deployment.md: 0640 root:instore) reads them, other users must not.
  for (const [what, path] of [
    ['config', configFile() ?? undefined],
    ['auth', o.auth]
  ] as const) {
    const mode = path === undefined ? 0 : fileMode(path)
    if ((mode & 0o006) !== 0)
      log.warn(
        `${what} file is readable or writable by every local user: it holds secrets, and a login added to it is in force at the next reload (chmod o-rw it; 0640 root:instore)`,
        { path, mode: (mode & 0o777).toString(8) }
      )
  }
  if (o.auth && o.broker) throw new UsageError('--auth secures the embedded broker; an external broker has its own')
  const auth = o.auth ? loadAuthFile(o.auth) : undefined
  if ((o['meraki-validator'] === undefined) !== (o['meraki-secret'] === undefined)) throw new UsageError('--meraki-validator and --meraki-secret go together')
  if ((o['ble-adapter'] === undefined) !== (o['ble-sensor'] === undefined)) throw new UsageError('--ble-adapter and --ble-sensor go together')
  if (o['tls-port'] !== undefined && (!o['tls-cert'] || !o['tls-key'])) throw new UsageError('--tls-port needs --tls-cert and --tls-key')
  if (o.broker && (o['tls-port'] !== undefined || o['ws-port'] !== undefined)) throw new UsageError('--tls-port and --ws-port are listeners of the embedded broker')
  for (const k of ['max-connections', 'max-connections-per-address', 'max-connections-per-login'] as const)
    if (!Number.isInteger(o[k]) || o[k] < 1 || o[k] > 1_000_000) throw new UsageError(`--${k} must be an integer 1-1000000`)
  for (const k of ['max-stored-sessions', 'max-queued-messages', 'max-queued-mib'] as const)
    if (!Number.isInteger(o[k]) || o[k] < 0 || o[k] > 100_000) throw new UsageError(`--${k} must be an integer 0-100000`)
  if (!Number.isInteger(o['session-expiry-ms']) || o['session-expiry-ms'] < 0) throw new UsageError('--session-expiry-ms must be an integer 0 or more')
  if (o['ble-sensor'] !== undefined && !site.sensors.has(o['ble-sensor'])) throw new UsageError(`--ble-sensor ${o['ble-sensor']} is not a sensor of the site`)
  const foreign: ForeignConfig = { espresense: o['espresense-root'], omg: o['omg-root'], theengs: o['theengs-topics'] ? parseTheengs(o['theengs-topics']) : [] }
  const fp = foreignProblems(foreign, site, o.prefix)
  if (fp.length > 0) throw new UsageError(fp.join('; '))
  if (!(o['meraki-late-ms'] >= 0 && o['meraki-late-ms'] <= 600_000)) throw new UsageError('--meraki-late-ms must be 0-600000')
  const gateway = new Gateway({
    foreign,
    site,
    port: o.port,
    host: o.host,
    broker: o.broker,
    dataDir: o.data,
    clock: o.clock as 'wall' | 'event',
    clockQuorum: o['clock-quorum'],
    httpPort: o['http-port'],
    prefix: o.prefix,
    secret: o.secret,
    log,
    campaigns,
    retentionDays: o['retention-days'],
    // No workers unless asked: on a busy box the pool costs more CPU in all than it takes off the
    // broker's thread, and a starved worker makes the tick wait (docs/performance.md, the test pool).
    pipeline: { workers: o.workers ?? 0 },
    auth,
    devices,
    listeners: {
      limits: { maxConnections: o['max-connections'], maxConnectionsPerAddress: o['max-connections-per-address'], maxConnectionsPerLogin: o['max-connections-per-login'] },
      sessions: {
        maxStoredSessions: o['max-stored-sessions'],
        sessionExpiryMs: o['session-expiry-ms'],
        maxQueuedPerSession: o['max-queued-messages'],
        maxQueuedBytes: o['max-queued-mib'] * 2 ** 20
      },
      ...(o['tls-port'] !== undefined && o['tls-cert'] && o['tls-key'] ? { tls: { port: o['tls-port'], cert: o['tls-cert'], key: o['tls-key'] } } : {}),
      ...(o['ws-port'] !== undefined ? { wsPort: o['ws-port'] } : {})
    },
    ...(o['ble-adapter'] && o['ble-sensor'] ? { ble: { adapter: o['ble-adapter'], sensor: o['ble-sensor'] } } : {}),
    ...(o['meraki-validator'] && o['meraki-secret'] ? { meraki: { validator: o['meraki-validator'], secret: o['meraki-secret'], lateMs: o['meraki-late-ms'] } } : {}),
    ...(o.central && o.token ? { central: { url: o.central, token: o.token } } : {})
  })
  // SIGHUP (`systemctl reload`) puts an edited auth file in force without a restart: a revoked or
  // rotated credential is disconnected at once; a file that does not load leaves the one in force.
  // Handled from before the start and without --auth too: Node's default for SIGHUP is to exit at
  // once, without the drain SIGTERM runs (open visits, the outbox, learned state).
  process.on('SIGHUP', () => {
    if (!o.auth) {
      log.info('SIGHUP: nothing to reload (no --auth file)')
      return
    }
    try {
      // Any local user could have added a login to a file others may write: not taken in.
      const mode = fileMode(o.auth)
      if ((mode & 0o002) !== 0) throw new Error(`auth file ${o.auth} is writable by every local user (mode ${(mode & 0o777).toString(8)}): chmod o-w it, then reload`)
      if ((mode & 0o004) !== 0) log.warn('auth file is readable by every local user: it holds secrets (chmod o-r it; 0640 root:instore)', { path: o.auth })
      const disconnected = gateway.bus?.reloadAuth?.(loadAuthFile(o.auth)) ?? 0
      log.info('auth file reloaded', { path: o.auth, disconnected })
    } catch (err) {
      gateway.authCounters.reloadRefused = (gateway.authCounters.reloadRefused ?? 0) + 1
      const [first, ...problems] = (err as Error).message.split('\n')
      log.error('auth file not reloaded: the one in force stays', { path: o.auth, err: first, problems: problems.map(p => p.trim()) })
    }
  })
  await gateway.start()
  const sig = await onStopSignal()
  log.info('stopping', { signal: sig })
  // A stop that fails (a full disk) or hangs must still end the process, with an error: left up
  // half-stopped it would keep its ports and take traffic it can no longer keep.
  const hung = setTimeout(() => {
    log.error('stop did not finish in time: exiting', { afterMs: STOP_LIMIT_MS })
    process.exit(1)
  }, STOP_LIMIT_MS)
  hung.unref()
  try {
    await gateway.stop()
  } catch (err) {
    log.error('stop failed: exiting', { err: (err as Error).message })
    process.exit(1)
  }
  clearTimeout(hung)
})

/** A file's mode (0 when it is missing): the start-up warning and the reload's refusal read the same bits. */
function fileMode(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.mode ?? 0
}
