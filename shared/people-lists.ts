/** The site file's people lists checked for entries the gateway could never match (shared/site.ts). */
import type { Problem } from './schema-errors.ts'
import { isMac } from './mac.ts'

/** A subject as the gateway writes it: `h:` and the first 16 hex digits of an HMAC, lower case. */
const SUBJECT = /^h:[0-9a-f]{16}$/

/**
 * `people.fixtures` and `people.notFixtures` entries that are neither a MAC nor an `h:` subject: one
 * problem each. Taken as they were, they would be hashed into a subject no device ever has, and the
 * fixture named would be counted (or taken for one) without a word.
 */
export function peopleListProblems(people: unknown): Problem[] {
  if (typeof people !== 'object' || people === null) return []
  const out: Problem[] = []
  for (const key of ['fixtures', 'notFixtures'] as const) {
    const list = (people as Record<string, unknown>)[key]
    if (!Array.isArray(list)) continue
    list.forEach((e: unknown, i) => {
      if (typeof e !== 'string' || e === '' || isMac(e) || SUBJECT.test(e)) return
      const why = /^h:/i.test(e)
        ? 'a subject is h: and 16 lower-case hex digits, as /metrics and the events write it'
        : 'a MAC is 12 hex digits, bare or grouped with separators (aa:bb:cc:dd:ee:ff, aabb.ccdd.eeff, aabbcc-ddeeff), or widened to 64 bits in octets (aa:bb:cc:ff:fe:dd:ee:ff)'
      out.push({ path: `/people/${key}/${i}`, reason: `'${e}' is neither a MAC address nor an h: subject (${why})` })
    })
  }
  return out
}
