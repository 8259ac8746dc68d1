// JSON-lines logger on stdout (contract §8). One object per line, `ts` in ms since the epoch.
export type Level = 'debug' | 'info' | 'warn' | 'error'
const rank: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

export interface LoggerOptions {
  /** Lowest level written. Default `info`, or `LOG_LEVEL` from the environment. */
  level?: Level
  /** Where lines go. Default: process.stdout. */
  write?: (line: string) => void
  /** Fields added to every line, e.g. `{ name: 'gateway' }`. */
  base?: Record<string, unknown>
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const min = rank[opts.level ?? (process.env.LOG_LEVEL as Level | undefined) ?? 'info'] ?? rank.info
  const write =
    opts.write ??
    ((line: string) => {
      process.stdout.write(line)
    })
  const base = opts.base ?? {}
  const emit = (level: Level) => (msg: string, fields?: Record<string, unknown>) => {
    if (rank[level] < min) return
    write(JSON.stringify({ ts: Date.now(), level, ...base, msg, ...fields }) + '\n')
  }
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') }
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} }
