// Where instore-server takes a given admin token from, and what it refuses. The admin token is the
// chain-wide credential (every store, every campaign, every operator): a short one is guessed, and
// one on the command line is read by every local user (`ps`, /proc/PID/cmdline). The environment
// (`INSTORE_ADMIN_TOKEN`, e.g. from the unit's EnvironmentFile) or a file only its owner and group
// read keep it out of sight.
import { readFileSync, statSync } from 'node:fs'
import { UsageError } from '../shared/cli.ts'

/** Shortest admin token taken, characters: 24 random base64 characters are 144 bits. */
export const ADMIN_TOKEN_MIN_CHARS = 24
/**
 * Fewest distinct characters an admin token must hold: a token of one letter repeated (or a few,
 * `abababab…`) is as guessable as it is short, whatever its length. Random base64 of 24 characters
 * holds 20 distinct ones on average; fewer than 10 by chance about once in 2·10^10.
 */
export const ADMIN_TOKEN_MIN_DISTINCT = 10
/** The environment variable an admin token may come from. */
export const ADMIN_TOKEN_ENV = 'INSTORE_ADMIN_TOKEN'

export interface AdminTokenSources {
  /** `--admin-token`: on the command line, visible to every local user. */
  flag?: string | undefined
  /** `--admin-token-file`: a file readable by its owner (and group) only. */
  file?: string | undefined
  /** The environment's INSTORE_ADMIN_TOKEN. */
  env?: string | undefined
}

/**
 * The admin token given at start, or undefined (one is then generated on first start). Refuses
 * (UsageError: exit code 2) two sources at once, a file others may read, and a token that is
 * shorter than ADMIN_TOKEN_MIN_CHARS, holds fewer than ADMIN_TOKEN_MIN_DISTINCT different
 * characters or holds characters a Bearer header cannot carry.
 * `ofCommandLine` says whether it came from the command line (worth a warning).
 */
export function adminTokenOf(s: AdminTokenSources): { token: string; ofCommandLine: boolean } | undefined {
  if (s.flag !== undefined && s.file !== undefined) throw new UsageError('--admin-token and --admin-token-file: give the admin token one way')
  let token: string
  let from: string
  if (s.file !== undefined) {
    const st = statSync(s.file, { throwIfNoEntry: false })
    if (st === undefined || !st.isFile()) throw new UsageError(`--admin-token-file ${s.file}: no such file`)
    const mode = st.mode & 0o777
    if ((mode & 0o007) !== 0)
      throw new UsageError(`--admin-token-file ${s.file} is open to other users (mode ${mode.toString(8)}): chmod 600 it (or 640, owned by the service's group)`)
    token = readFileSync(s.file, 'utf8').replace(/\r?\n$/, '')
    from = `--admin-token-file ${s.file}`
  } else if (s.flag !== undefined) {
    token = s.flag
    from = '--admin-token'
  } else if (s.env !== undefined && s.env !== '') {
    token = s.env
    from = ADMIN_TOKEN_ENV
  } else return undefined
  if (!/^[\x21-\x7e]*$/.test(token)) throw new UsageError(`${from}: the admin token may hold only printable ASCII characters, no spaces`)
  if (token.length < ADMIN_TOKEN_MIN_CHARS)
    throw new UsageError(`${from}: an admin token needs at least ${ADMIN_TOKEN_MIN_CHARS} characters, got ${token.length} (make one with: openssl rand -base64 32)`)
  const distinct = new Set(token).size
  if (distinct < ADMIN_TOKEN_MIN_DISTINCT)
    throw new UsageError(
      `${from}: an admin token needs at least ${ADMIN_TOKEN_MIN_DISTINCT} different characters, got ${distinct} (a repeated pattern is guessed; make one with: openssl rand -base64 32)`
    )
  return { token, ofCommandLine: from === '--admin-token' }
}
