// Command-line parsing shared by every command (contract §8): `--help`, unknown or bad options
// refused with a one-line reason and exit code 2.
import { parseArgs } from 'node:util'
import { dirname, resolve } from 'node:path'
import { nearestKey, readText } from './schema-errors.ts'

export interface OptionSpec {
  type: 'string' | 'boolean' | 'number'
  /** One-line description shown by --help (say the unit and the default). */
  doc: string
  default?: string | number | boolean
  short?: string
  /** For string options: the accepted values. */
  choices?: readonly string[]
  required?: boolean
  /** A file or folder: given relatively in a `--config` file, it is relative to that file's folder. */
  path?: boolean
}

export type OptionValues<S extends Record<string, OptionSpec>> = {
  [K in keyof S]: S[K]['type'] extends 'boolean'
    ? boolean
    : S[K]['type'] extends 'number'
      ? S[K]['default'] extends number
        ? number
        : number | undefined
      : S[K]['default'] extends string
        ? string
        : S[K]['required'] extends true
          ? string
          : string | undefined
}

export class UsageError extends Error {}

export interface CommandSpec<S extends Record<string, OptionSpec>> {
  name: string
  summary: string
  usage?: string
  options: S
  /** Accept positional arguments (returned in `positionals`). */
  positionals?: boolean
}

export function usage<S extends Record<string, OptionSpec>>(spec: CommandSpec<S>): string {
  const lines = [`${spec.name}: ${spec.summary}`, '', `usage: ${spec.usage ?? `${spec.name} [options]`}`, '', 'options:']
  for (const [name, o] of Object.entries(spec.options)) {
    const flag = `--${name}${o.type === 'boolean' ? '' : ' ' + (o.choices ? o.choices.join('|') : o.type === 'number' ? 'N' : 'VALUE')}`
    const def = o.default !== undefined && o.type !== 'boolean' ? ` (default ${String(o.default)})` : ''
    lines.push(`  ${flag.padEnd(34)} ${o.doc}${def}`)
  }
  lines.push(`  ${'--help'.padEnd(34)} show this help`)
  return lines.join('\n') + '\n'
}

/** Parses argv; throws UsageError with a one-line reason. Returns null when --help was asked. */
export function parseOptions<S extends Record<string, OptionSpec>>(spec: CommandSpec<S>, argv: string[]): { values: OptionValues<S>; positionals: string[] } | null {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } }
  for (const [name, o] of Object.entries(spec.options)) {
    options[name] = { type: o.type === 'boolean' ? 'boolean' : 'string', ...(o.short ? { short: o.short } : {}) }
  }
  let parsed
  try {
    parsed = parseArgs({ args: negativeValues(spec, argv), options, strict: true, allowPositionals: spec.positionals === true })
  } catch (err) {
    // Node's hint (how to pass a value starting with a dash) is on the lines after the first: kept, on one line.
    throw new UsageError((err as Error).message.split('\n').join(' '))
  }
  if (parsed.values.help === true) return null
  const out: Record<string, unknown> = {}
  for (const [name, o] of Object.entries(spec.options)) {
    const raw = parsed.values[name]
    if (raw === undefined) {
      if (o.required) throw new UsageError(`missing required option --${name}`)
      out[name] = o.type === 'boolean' ? (o.default ?? false) : o.default
      continue
    }
    if (o.type === 'number') {
      const n = Number(raw)
      if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} takes a number, got '${String(raw)}'`)
      out[name] = n
    } else if (o.type === 'string' && o.choices && !o.choices.includes(raw as string)) {
      throw new UsageError(`--${name} must be one of ${o.choices.join(', ')}, got '${String(raw)}'`)
    } else {
      out[name] = raw
    }
  }
  return { values: out as OptionValues<S>, positionals: parsed.positionals }
}

/**
 * `--port -5`: node's parser takes -5 for an option and calls the value ambiguous. A value that is
 * a negative number after an option that takes a value is that option's value (`--port=-5`), so
 * the command's own check names what is wrong with it.
 */
function negativeValues<S extends Record<string, OptionSpec>>(spec: CommandSpec<S>, argv: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const o = argv[i].startsWith('--') ? spec.options[argv[i].slice(2)] : undefined
    if (o !== undefined && o.type !== 'boolean' && /^-(\d|\.\d|Infinity)/.test(argv[i + 1] ?? '')) out.push(`${argv[i]}=${argv[++i]}`)
    else out.push(argv[i])
  }
  return out
}

/** Options whose value came from a `--config` file (not overridden on the command line): name -> file. */
const fromConfigFile = new Map<string, string>()

/** The `--config` file this process read its options from, if any (the gateway checks who may read it). */
let configFileRead: string | null = null
export function configFile(): string | null {
  return configFileRead
}

/** A usage problem about an option whose value came from a config file names the file and key. */
function withOrigin(message: string): string {
  for (const [name, file] of fromConfigFile) {
    if (new RegExp(`--${name}\\b(?!-)`).test(message)) return `${message} (the value of "${name}" in config file ${file})`
  }
  return message
}

/**
 * `--config FILE`: a JSON object whose keys are the command's option names. Its values come
 * first and the command line wins. Every problem in the file is listed (UsageError). A relative
 * path in it (an option marked `path`) is relative to the file's folder, not to where the command
 * runs: a unit file's working directory is seldom the config's.
 */
export function expandConfigFile<S extends Record<string, OptionSpec>>(spec: CommandSpec<S>, argv: string[]): string[] {
  const i = argv.indexOf('--config')
  if (i < 0 || !('config' in spec.options)) return argv
  const path = argv[i + 1]
  if (path === undefined) throw new UsageError('--config needs a file')
  let json: unknown
  try {
    json = JSON.parse(readText(path))
  } catch (err) {
    throw new UsageError(`config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`config file ${path}: must be a JSON object of option names`)
  configFileRead = path
  const problems: string[] = []
  const tokens: string[] = []
  for (const [k, v] of Object.entries(json)) {
    const o = spec.options[k]
    if (o === undefined || k === 'config') {
      const near = nearestKey(k, Object.keys(spec.options))
      problems.push(`${k}: unknown option${near !== null && near !== 'config' ? ` (did you mean "${near}"?)` : ''}`)
      continue
    }
    const want = o.type === 'number' ? 'number' : o.type === 'boolean' ? 'boolean' : 'string'
    if (typeof v !== want || (typeof v === 'number' && !Number.isFinite(v))) {
      problems.push(`${k}: must be a ${want}, got ${JSON.stringify(v)}`)
      continue
    }
    if (o.choices !== undefined && !o.choices.includes(String(v))) {
      problems.push(`${k}: must be one of ${o.choices.join(', ')}, got ${JSON.stringify(v)}`)
      continue
    }
    const onCommandLine = argv.some(a => a === `--${k}` || a.startsWith(`--${k}=`))
    if (!onCommandLine) fromConfigFile.set(k, path)
    if (o.type === 'boolean') {
      if (v === true) tokens.push(`--${k}`)
    } else tokens.push(`--${k}`, o.path === true ? resolve(dirname(path), String(v)) : String(v))
  }
  if (problems.length > 0) throw new UsageError(`config file ${path}: ${problems.length} problem(s): ${problems.join('; ')}`)
  return [...tokens, ...argv.slice(0, i), ...argv.slice(i + 2)]
}

/**
 * Runs a command's main: parses options, prints help, maps UsageError to exit 2 and any other
 * failure to a one-line JSON error and exit 1 (never a stack trace on the user's screen).
 */
export async function runCommand<S extends Record<string, OptionSpec>>(
  spec: CommandSpec<S>,
  main: (values: OptionValues<S>, positionals: string[]) => Promise<number | void>,
  argv: string[] = process.argv.slice(2)
): Promise<void> {
  let parsed
  try {
    parsed = parseOptions(spec, expandConfigFile(spec, argv))
  } catch (err) {
    process.stderr.write(`${spec.name}: ${withOrigin((err as Error).message)} (see --help)\n`)
    process.exitCode = 2
    return
  }
  if (parsed === null) {
    process.stdout.write(usage(spec))
    return
  }
  try {
    const code = await main(parsed.values, parsed.positionals)
    if (typeof code === 'number') process.exitCode = code
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${spec.name}: ${withOrigin(err.message)}\n`)
      process.exitCode = 2
      return
    }
    process.stdout.write(JSON.stringify({ ts: Date.now(), level: 'error', name: spec.name, msg: (err as Error).message }) + '\n')
    if (process.env.INSTORE_DEBUG) process.stderr.write(String((err as Error).stack) + '\n')
    process.exitCode = 1
  }
}

/** Resolves on the first SIGINT or SIGTERM; the handler is removed afterwards. */
export function onStopSignal(): Promise<string> {
  return new Promise(resolve => {
    const handler = (sig: string) => {
      process.off('SIGINT', handler)
      process.off('SIGTERM', handler)
      resolve(sig)
    }
    process.on('SIGINT', handler)
    process.on('SIGTERM', handler)
  })
}
