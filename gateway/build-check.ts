// The gateway run as built (`npm run build`: dist/ in the checkout) is the source as it was at the
// build: updated without a new build, a store box would go on running the old code, silently. In a
// checkout the source lies beside the build; a source file newer than the build is said at start.
import { readdirSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The folders the gateway's build is made of. */
const SOURCES = ['gateway', 'shared']

/**
 * For a module running from a build (`moduleUrl` of a .mjs under dist/), the first source file
 * changed since the build, relative to the checkout; null when run from source, when no source is
 * beside the build, or when the build is current.
 */
export function staleBuild(moduleUrl: string): string | null {
  if (!moduleUrl.startsWith('file:') || !moduleUrl.endsWith('.mjs')) return null
  const bundle = fileURLToPath(moduleUrl)
  const root = dirname(dirname(bundle))
  const built = statSync(bundle).mtimeMs
  const newer = (dir: string): string | null => {
    let entries
    try {
      entries = readdirSync(dir, { withFileTypes: true })
    } catch {
      return null
    }
    for (const e of entries) {
      const p = join(dir, e.name)
      if (e.isDirectory()) {
        const found = newer(p)
        if (found !== null) return found
      } else if (e.name.endsWith('.ts') && statSync(p).mtimeMs > built) return relative(root, p)
    }
    return null
  }
  for (const dir of SOURCES) {
    const found = newer(join(root, dir))
    if (found !== null) return found
  }
  return null
}
