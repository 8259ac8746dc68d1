// Third-party parts the interop tests drive. Without one, a test is skipped on a developer's
// machine, but fails in CI (CI=true): a CI image that lost a package must not turn green by
// quietly testing less. .ci/run installs every part.
import { test, type TestContext } from 'node:test'
import { existsSync, readdirSync } from 'node:fs'

export type Part = 'mosquitto' | 'chromium' | 'dbusmock' | 'postgresql'

export const CHROMIUM = '/usr/bin/chromium'
export const MOSQUITTO = '/usr/sbin/mosquitto'

/** The bin folder of the newest PostgreSQL installed the Debian way, or null. */
export function postgresBin(): string | null {
  const base = '/usr/lib/postgresql'
  if (!existsSync(base)) return null
  const versions = readdirSync(base)
    .filter(v => existsSync(`${base}/${v}/bin/initdb`))
    .sort((a, b) => Number(b) - Number(a))
  return versions.length > 0 ? `${base}/${versions[0]}/bin` : null
}

export function present(part: Part): boolean {
  switch (part) {
    case 'mosquitto':
      return existsSync(MOSQUITTO) && existsSync('/usr/bin/mosquitto_pub') && existsSync('/usr/bin/mosquitto_sub')
    case 'chromium':
      return existsSync(CHROMIUM)
    case 'dbusmock':
      return existsSync('/usr/lib/python3/dist-packages/dbusmock') && existsSync('/usr/bin/dbus-daemon')
    case 'postgresql':
      return postgresBin() !== null
  }
}

export function inCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.CI ?? '').toLowerCase()
  return v !== '' && v !== '0' && v !== 'false'
}

/** What to do with a test that needs a part: run it, skip it (developer machine), or fail it (CI). */
export function decide(isPresent: boolean, ci: boolean): 'run' | 'skip' | 'fail' {
  if (isPresent) return 'run'
  return ci ? 'fail' : 'skip'
}

type Body = (t: TestContext) => Promise<void> | void

/** node:test's test(), for a test that needs `part`. */
export function partTest(part: Part, name: string, opts: { timeout?: number }, fn: Body): void {
  switch (decide(present(part), inCi())) {
    case 'run':
      test(name, opts, fn)
      return
    case 'skip':
      test(name, { ...opts, skip: `${part} is not installed (.ci/run installs it)` }, fn)
      return
    case 'fail':
      test(name, opts, () => {
        throw new Error(`${part} is not installed, and CI=true: interop tests may not skip in CI (.ci/run installs it)`)
      })
  }
}
