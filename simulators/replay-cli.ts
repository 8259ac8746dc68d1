// instore-replay: publishes a trace to a broker (contract §2), optionally recording the gateway's output.
import mqtt from 'mqtt'
import { runCommand, UsageError } from '../shared/cli.ts'
import { createLogger } from '../shared/log.ts'
import { DEFAULT_PREFIX } from '../shared/mqtt-topics.ts'
import { closeSync, existsSync, openSync, statSync } from 'node:fs'
import { replay } from './replay.ts'
import { loadDevicesFile } from '../gateway/ingest/identity.ts'
import { Recorder } from './recorder.ts'

/**
 * The replay's MQTT keepalive, s. At full speed the replay is held back by design (the gateway
 * reads no more from it while it works), and its ping waits behind everything sent before it; on a
 * loaded machine that wait outlasted mqtt.js's default (60 s: the connection dropped after 90 s with
 * no drain or ping answer, and its unwritten readings with it). A broker gone without a word is
 * still noticed, after one and a half of these.
 */
const REPLAY_KEEPALIVE_S = 300

/** The MQTT password from the environment, off the command line. */
const PASSWORD_ENV = 'INSTORE_MQTT_PASSWORD'

const spec = {
  name: 'instore-replay',
  summary: "publish a trace's readings and heartbeats to an MQTT broker; optionally record what comes back",
  usage: 'instore-replay --trace boutique.jsonl --broker mqtt://localhost:1883 [--speed 10] [--record out.jsonl]',
  options: {
    trace: { type: 'string', doc: 'trace file (JSON Lines, contract §7)', required: true },
    broker: { type: 'string', doc: 'broker URL', default: 'mqtt://localhost:1883' },
    speed: { type: 'string', doc: '"max" (as fast as the broker takes it) or N times real time', default: 'max' },
    'max-gap': { type: 'number', doc: 'with --speed N: a gap in the trace longer than this many seconds (a closed night) is cut to it in wall time; timestamps stay' },
    'batch-ms': { type: 'number', doc: 'per-sensor batch window, ms of trace time', default: 100 },
    'batch-max': { type: 'number', doc: 'most readings per batch', default: 50 },
    qos: { type: 'number', doc: 'MQTT QoS for readings (0 or 1)', default: 0 },
    prefix: { type: 'string', doc: 'topic prefix', default: DEFAULT_PREFIX },
    store: { type: 'string', doc: "publish every line to this store id (default: each line's own)" },
    devices: { type: 'string', doc: "app phones' identity keys (default: TRACE.devices.json beside the trace, if there): app ids go out as their rotating EIDs" },
    record: { type: 'string', doc: 'also record positions, events and occupancy to this JSON Lines file' },
    settle: { type: 'number', doc: 'with --record: wait until output is quiet this long after the replay, ms', default: 1500 },
    username: { type: 'string', doc: 'MQTT username' },
    password: { type: 'string', doc: `MQTT password; every local user sees a command line (ps), so prefer ${PASSWORD_ENV} (default: ${PASSWORD_ENV})` }
  }
} as const

await runCommand(spec, async o => {
  const speed = o.speed === 'max' ? Infinity : Number(o.speed)
  if (!(speed > 0)) throw new UsageError(`--speed must be "max" or a positive number, got '${o.speed}'`)
  if (o.qos !== 0 && o.qos !== 1) throw new UsageError('--qos must be 0 or 1')
  // The trace is opened before the broker is: a missing one is a usage error, never a client left connecting.
  try {
    if (!statSync(o.trace).isFile()) throw new UsageError(`--trace ${o.trace}: not a file`)
    closeSync(openSync(o.trace, 'r'))
  } catch (err) {
    if (err instanceof UsageError) throw err
    throw new UsageError(`--trace ${o.trace}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
  }
  const devicesPath = o.devices ?? o.trace.replace(/(\.jsonl)?$/, '.devices.json')
  if (o.devices !== undefined && !existsSync(devicesPath)) throw new UsageError(`--devices ${devicesPath}: no such file`)
  let devices
  try {
    devices = existsSync(devicesPath) ? loadDevicesFile(devicesPath) : undefined
  } catch (err) {
    throw new UsageError(`--devices: ${(err as Error).message.split('\n')[0]}`)
  }
  const log = createLogger({ base: { name: 'instore-replay' } })
  if (o.password !== undefined) log.warn(`--password is visible to every local user (ps): prefer ${PASSWORD_ENV}`)
  const password = o.password ?? process.env[PASSWORD_ENV]
  const client = await mqtt.connectAsync(o.broker, { username: o.username, password, reconnectPeriod: 1000, keepalive: REPLAY_KEEPALIVE_S })
  const abort = new AbortController()
  const stop = () => {
    abort.abort()
    // A publish waiting on a broker that is gone never settles: past a short grace the replay ends anyway.
    setTimeout(() => {
      log.warn('stopped with publishes unacknowledged (the broker is gone?)')
      process.exit(130)
    }, 3000).unref()
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  let recorder: Recorder | null = null
  let result: Awaited<ReturnType<typeof replay>>
  const started = Date.now()
  try {
    if (o.record) {
      recorder = new Recorder(await mqtt.connectAsync(o.broker, { username: o.username, password }), o.record, o.prefix)
      await recorder.start()
    }
    result = await replay(client, {
      ...(devices ? { devices } : {}),
      trace: o.trace,
      prefix: o.prefix,
      speed,
      batchMs: o['batch-ms'],
      batchMax: o['batch-max'],
      qos: o.qos,
      store: o.store,
      ...(o['max-gap'] !== undefined ? { maxGapMs: 1000 * o['max-gap'] } : {}),
      signal: abort.signal,
      onProgress: p => log.info('progress', { percent: Math.round(100 * p.fraction), readings: p.readings, readingsPerS: Math.round(p.ratePerS) })
    })
  } catch (err) {
    // A client left open keeps reconnecting and the command never exits: close both on any failure.
    await client.endAsync(true)
    await recorder?.close().catch(() => undefined)
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    throw err
  }
  await client.endAsync()
  if (recorder) {
    await recorder.settle(o.settle, 60_000)
    await recorder.close()
  }
  log.info('done', { ...result, ratePerS: Math.round(result.ratePerS), seconds: (Date.now() - started) / 1000, recorded: recorder?.count ?? 0 })
  // The usual cause of an empty recording: the gateway drops readings for another store or for
  // sensors its site file does not have (see its log and /metrics).
  if (recorder && recorder.count === 0 && result.readings > 0) {
    log.warn("the gateway published nothing: do the trace's store ids and sensor ids match its site file? (--store renames the store)", { stores: result.stores })
  }
  process.off('SIGINT', stop)
  process.off('SIGTERM', stop)
})
