/** The site file's people lists checked for entries the gateway could never match (shared/site.ts). */
import type { Problem } from './schema-errors.ts'

// A MAC in every form the gateway recognises (gateway/ingest/subjects.ts, which shared/ may not
// import; test/unit/site-people.test.ts checks the two agree): bare, six octets with one separator
// throughout (a leading zero possibly left out), or 12 hex digits in any grouping and mix of separators.
const MAC_UNPADDED = /^[0-9a-f]{1,2}([:_. -])[0-9a-f]{1,2}(?:\1[0-9a-f]{1,2}){4}$/i
const MAC_FORMS = { test: (s: string) => MAC_UNPADDED.test(s) || (/^[0-9a-f:_. -]+$/i.test(s) && s.replace(/[^0-9a-f]/gi, '').length === 12) }
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
      if (typeof e !== 'string' || e === '' || MAC_FORMS.test(e) || SUBJECT.test(e)) return
      const why = /^h:/i.test(e)
        ? 'a subject is h: and 16 lower-case hex digits, as /metrics and the events write it'
        : 'a MAC is 12 hex digits, bare or grouped with separators (aa:bb:cc:dd:ee:ff, aabb.ccdd.eeff, aabbcc-ddeeff)'
      out.push({ path: `/people/${key}/${i}`, reason: `'${e}' is neither a MAC address nor an h: subject (${why})` })
    })
  }
  return out
}
