// instore-server: the central server (contract §6, §8).
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { runCommand, onStopSignal, UsageError } from '../shared/cli.ts'
import { createLogger, type Level } from '../shared/log.ts'
import { buildServer, DEFAULT_LIMITS, BOOTSTRAP_TOKEN_FILE } from './app.ts'
import { isPostgresUrl } from './db/db.ts'
import { TrustProxyError, trustedPeers } from './connection-cap.ts'
import { ADMIN_TOKEN_ENV, ADMIN_TOKEN_MIN_CHARS, ADMIN_TOKEN_MIN_DISTINCT, adminTokenOf } from './admin-token.ts'

const spec = {
  name: 'instore-server',
  summary: 'the central server: gateway uplink, campaigns, devices and consent, triggers to phones, analytics',
  options: {
    port: { type: 'number', doc: 'HTTP port; 0 picks a free one', default: 8080 },
    host: { type: 'string', doc: 'address to listen on', default: '127.0.0.1' },
    data: { type: 'string', doc: "folder for the server's SQLite file (and the bootstrap admin token)", default: './data-server' },
    'database-url': {
      type: 'string',
      doc: 'postgres://user:pass@host:5432/db: keep everything in PostgreSQL, shared by any number of replicas (default: INSTORE_DATABASE_URL, else SQLite in --data)'
    },
    'retention-days': {
      type: 'number',
      doc: 'drop raw events, visits, triggers and acks this many days after they arrived (analytics counts stay; a campaign cooldown longer than this keeps its triggers that long); 0 keeps them for ever',
      default: 0
    },
    'eid-k': { type: 'number', doc: 'rotation exponent K of the Eddystone-EIDs issued to apps: a new id every 2^K s (0-15)', default: 10 },
    'admin-token': {
      type: 'string',
      doc: `use this admin token, at least ${ADMIN_TOKEN_MIN_CHARS} characters, ${ADMIN_TOKEN_MIN_DISTINCT} of them different; every local user sees a command line, so prefer --admin-token-file or ${ADMIN_TOKEN_ENV} (default: ${ADMIN_TOKEN_ENV}, else one is generated on first start and written to <data>/admin-token, mode 0600; a different one at a later start revokes the one it replaces)`
    },
    'admin-token-file': {
      type: 'string',
      doc: 'read the admin token from this file (one line, at least 24 characters; refused if other users may read it)'
    },
    'registrations-per-minute': { type: 'number', doc: 'anonymous device registrations accepted per caller address per minute', default: DEFAULT_LIMITS.registrationsPerWindow },
    'auth-failures-per-minute': { type: 'number', doc: 'failed authentications per caller address per minute before 429', default: DEFAULT_LIMITS.authFailuresPerWindow },
    'device-writes-per-minute': {
      type: 'number',
      doc: 'consent grants, restated consents and acknowledgements accepted per device token per minute; one more is refused with 429 INSTORE_RATE_LIMITED (admin tokens are not counted; consent withdrawals and erasures never are)',
      default: DEFAULT_LIMITS.deviceWritesPerToken
    },
    'device-writes-per-address': {
      type: 'number',
      doc: "consent grants by device tokens accepted per caller address per minute (many phones share a shop Wi-Fi or a carrier NAT), and as many acknowledgements of the callers' own triggers, and as many naming none, each in a budget of its own; one more is refused with 429 INSTORE_RATE_LIMITED",
      default: DEFAULT_LIMITS.deviceWritesPerAddress
    },
    'consent-grants-per-minute': {
      type: 'number',
      doc: 'consent changes that grant presence or marketing accepted per device per minute (each takes a config version every gateway pulls); one more is refused with 429 INSTORE_TOO_MANY_CONSENT_CHANGES; withdrawals are never refused',
      default: DEFAULT_LIMITS.consentGrantsPerDevice
    },
    'campaigns-per-store': {
      type: 'number',
      doc: 'campaigns (active or not) that may name one store; one more is refused with 409 INSTORE_TOO_MANY_CAMPAIGNS',
      default: DEFAULT_LIMITS.campaignsPerStore
    },
    'trigger-streams': {
      type: 'number',
      doc: "phones' trigger streams this replica holds open at once; one more is refused with 503 INSTORE_STREAMS_FULL (keep it under the open-file limit)",
      default: DEFAULT_LIMITS.triggerStreamsPerReplica
    },
    'trigger-streams-per-address': {
      type: 'number',
      doc: 'trigger streams this replica holds open at once from one caller address; one more is refused with 429 INSTORE_TOO_MANY_STREAMS',
      default: DEFAULT_LIMITS.triggerStreamsPerAddress
    },
    'headers-timeout-seconds': {
      type: 'number',
      doc: "time to receive a request's headers; beyond, 408 INSTORE_TIMEOUT and the connection is closed",
      default: DEFAULT_LIMITS.headersTimeoutMs / 1000
    },
    'request-timeout-seconds': {
      type: 'number',
      doc: 'time to receive a whole request, body included (open trigger and live streams are not bound by it); beyond, 408 INSTORE_TIMEOUT and the connection is closed',
      default: DEFAULT_LIMITS.requestTimeoutMs / 1000
    },
    'idle-timeout-seconds': {
      type: 'number',
      doc: "a kept-alive connection is closed after this long between two requests (never while a request is received or answered); keep a reverse proxy's upstream keep-alive below it",
      default: DEFAULT_LIMITS.idleTimeoutMs / 1000
    },
    'min-body-bytes-per-second': {
      type: 'number',
      doc: 'bytes a request body must bring per second, measured over each 5 s once its headers are in; below, 408 INSTORE_TIMEOUT and the connection is closed (0: no minimum)',
      default: DEFAULT_LIMITS.minBodyBytesPerSecond
    },
    'reply-stall-seconds': {
      type: 'number',
      doc: 'a reply whose client takes none of its bytes for this long is cut, its connection closed: counted in instore_server_connections_closed_total{reason="reply_stalled"}, a config reply in instore_server_config_streams_cut_total{reason="stalled"} (its token\'s turn given back); SSE streams keep their own rule (60 s)',
      default: DEFAULT_LIMITS.replyStallMs / 1000
    },
    'connections-per-address': {
      type: 'number',
      doc: 'connections open at once from one caller address (an IPv6 /64; the proxies of --trust-proxy excepted); one more is closed on arrival',
      default: DEFAULT_LIMITS.connectionsPerAddress
    },
    'max-connections': {
      type: 'number',
      doc: 'connections open at once on all addresses (0: three quarters of the open-file limit less 32); past it the oldest one answering nothing is closed to make room, else the one whose reply has been stalled longest (its client reads nothing), else the one receiving its body at the lowest pace (408)',
      default: 0
    },
    'trust-proxy': {
      type: 'string',
      doc: 'addresses, CIDRs (10.0.0.0/8), netmasks (10.0.0.0/255.0.0.0) or loopback, linklocal, uniquelocal: the reverse proxies in front (comma-separated): rate limits then key on the caller address they forward (X-Forwarded-For)'
    },
    'log-level': { type: 'string', doc: 'debug, info, warn or error', default: 'info', choices: ['debug', 'info', 'warn', 'error'] },
    'app-schemes': { type: 'string', doc: 'comma-separated link schemes campaigns may use besides https and http', default: 'app' },
    'max-event-age-days': { type: 'number', doc: 'oldest event a gateway may post, days', default: 30 },
    'registration-ttl-days': {
      type: 'number',
      doc: 'remove app registrations no gateway has reported and whose token went unused this many days; 0 keeps them',
      default: 30
    },
    'gateway-retention-days': {
      type: 'number',
      doc: "the longest --retention-days of this server's gateways: a whole gateway config lists erasures this far back",
      default: 400
    }
  }
} as const

await runCommand(spec, async o => {
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new UsageError('--port must be a port number 0-65535')
  if (!Number.isInteger(o['eid-k']) || o['eid-k'] < 0 || o['eid-k'] > 15) throw new UsageError('--eid-k must be an integer 0-15')
  const log = createLogger({ level: o['log-level'] as Level, base: { name: 'instore-server' } })
  const appSchemes = o['app-schemes']
    .split(',')
    .map(x => x.trim())
    .filter(x => x !== '')
  if (appSchemes.some(x => !/^[a-z][a-z0-9+.-]*$/i.test(x) || ['javascript', 'data', 'vbscript', 'file', 'blob'].includes(x.toLowerCase())))
    throw new UsageError('--app-schemes takes scheme names such as app,myshop (never javascript, data, vbscript, file or blob)')
  if (!(o['max-event-age-days'] > 0)) throw new UsageError('--max-event-age-days must be above 0')
  if (!(o['retention-days'] >= 0)) throw new UsageError('--retention-days must be 0 (keep for ever) or more')
  if (!(o['registration-ttl-days'] >= 0)) throw new UsageError('--registration-ttl-days must be 0 (keep for ever) or more')
  if (!(o['gateway-retention-days'] >= 1)) throw new UsageError('--gateway-retention-days must be at least 1')
  const databaseUrl = o['database-url'] ?? process.env.INSTORE_DATABASE_URL
  if (databaseUrl !== undefined && databaseUrl !== '' && !isPostgresUrl(databaseUrl))
    throw new UsageError('--database-url (or INSTORE_DATABASE_URL) must start with postgres:// or postgresql://')
  const admin = adminTokenOf({ flag: o['admin-token'], file: o['admin-token-file'], env: process.env[ADMIN_TOKEN_ENV] })
  if (admin?.ofCommandLine) log.warn(`--admin-token is visible to every local user (ps): prefer --admin-token-file or ${ADMIN_TOKEN_ENV}`)
  for (const k of ['headers-timeout-seconds', 'request-timeout-seconds', 'idle-timeout-seconds'] as const)
    if (!(o[k] >= 0.001 && o[k] <= 86_400)) throw new UsageError(`--${k} must be a number of seconds, 0.001 to 86400`)
  if (o['headers-timeout-seconds'] > o['request-timeout-seconds']) throw new UsageError('--headers-timeout-seconds must not exceed --request-timeout-seconds')
  mkdirSync(o.data, { recursive: true })
  for (const k of [
    'registrations-per-minute',
    'auth-failures-per-minute',
    'campaigns-per-store',
    'trigger-streams',
    'trigger-streams-per-address',
    'connections-per-address'
  ] as const)
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new UsageError(`--${k} must be a whole number >= 1`)
  if (!Number.isFinite(o['min-body-bytes-per-second']) || o['min-body-bytes-per-second'] < 0) throw new UsageError('--min-body-bytes-per-second must be a number >= 0')
  if (!Number.isInteger(o['max-connections']) || o['max-connections'] < 0) throw new UsageError('--max-connections must be a whole number >= 0')
  try {
    trustedPeers(o['trust-proxy'])
  } catch (e) {
    if (e instanceof TrustProxyError) throw new UsageError(e.message)
    throw e
  }
  const { app, bootstrapToken } = await buildServer({
    dataDir: o.data,
    log,
    ...(databaseUrl ? { databaseUrl } : {}),
    ...(o['retention-days'] > 0 ? { retentionMs: o['retention-days'] * 86_400_000 } : {}),
    adminToken: admin?.token,
    ...(o['trust-proxy'] ? { trustProxy: o['trust-proxy'] } : {}),
    eidK: o['eid-k'],
    appSchemes,
    maxEventAgeMs: o['max-event-age-days'] * 86_400_000,
    registrationTtlMs: o['registration-ttl-days'] * 86_400_000,
    gatewayRetentionMs: o['gateway-retention-days'] * 86_400_000,
    limits: {
      registrationsPerWindow: o['registrations-per-minute'],
      authFailuresPerWindow: o['auth-failures-per-minute'],
      deviceWritesPerToken: o['device-writes-per-minute'],
      deviceWritesPerAddress: o['device-writes-per-address'],
      consentGrantsPerDevice: o['consent-grants-per-minute'],
      windowMs: 60_000,
      campaignsPerStore: o['campaigns-per-store'],
      triggerStreamsPerReplica: o['trigger-streams'],
      triggerStreamsPerAddress: o['trigger-streams-per-address'],
      headersTimeoutMs: Math.round(o['headers-timeout-seconds'] * 1000),
      requestTimeoutMs: Math.round(o['request-timeout-seconds'] * 1000),
      idleTimeoutMs: Math.round(o['idle-timeout-seconds'] * 1000),
      minBodyBytesPerSecond: o['min-body-bytes-per-second'],
      replyStallMs: Math.round(o['reply-stall-seconds'] * 1000),
      connectionsPerAddress: o['connections-per-address'],
      maxConnections: o['max-connections']
    }
  })
  const address = await app.listen({ port: o.port, host: o.host })
  // The token itself never reaches the log (logs are shipped and kept): only where to read it.
  if (bootstrapToken) log.info('bootstrap admin token written (mode 0600); read it, keep it safe, delete the file', { file: join(o.data, BOOTSTRAP_TOKEN_FILE) })
  log.info('server started', { url: address, docs: `${address}/docs` })
  const sig = await onStopSignal()
  log.info('stopping', { signal: sig })
  await app.close()
  log.info('server stopped')
})
