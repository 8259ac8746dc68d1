// MAC addresses as the gateway recognises them (gateway/ingest/subjects.ts hashes them; the site
// check, shared/people-lists.ts, accepts the same people-list entries): one recogniser, in shared/
// so that both use it (re-tester, s11: the site check kept a narrower copy and refused EUI-64 and
// zero-padded spellings the gateway hashes).
//
// The one recogniser of MAC addresses, for every id the gateway takes (BLE ids, sensor and device
// ids, topic levels) and every log line it writes. Total on purpose: a spelling we did not think of
// must not let an address through raw (an HP/Aruba `aabbcc-ddeeff`, mixed separators). An id made
// only of hex digits and separators (`:`, `-`, `.`, `_` as BlueZ writes it, space, and the `@`, `=`,
// `+`, `/` the subject grammar also lets through: shared/events.ts SUBJECT) that holds exactly
// 12 hex digits, in any grouping and any case, is a MAC; so are six octets with one separator
// throughout whose leading zeros are left out (`de:ad:be:ef:0:3`).
// A MAC widened to 64 bits (reviewer, s10: a sensor id in a topic written so was logged raw), the
// EUI-64 made from it (`ff:fe` in its middle) or the MAC zero-padded to 13-16 digits, stands for its
// 12-digit MAC. In an id only where it is written as a MAC is, octets with one separator throughout
// (`aa:bb:cc:ff:fe:dd:ee:ff`, `00:aa:bb:cc:dd:ee:ff`): a bare run of 13-16 digits inside an id is a
// serial number or an app id as often as a MAC (reviewer, s11: `shelf-tag-0000000000000042` was
// hashed, so a site beacon so named stopped matching). Log lines take the bare forms too.
// Inside a longer id or a log line the text is cut into runs of hex groups joined by single
// separators (a run never touches another hex digit); a run holding a window of whole groups with
// exactly 12 digits holds a MAC, the rightmost such window (a word ending in a hex letter, as
// `device_` does, runs into the address at its left); a log line is searched again on both sides of
// each window found, since one run may hold several addresses. Legitimate ids stay what they are:
// 16-hex EIDs and 32-hex irk ids are single groups longer than 12 digits (and `eid:`/`irk:` ids are
// never taken for MACs, sensor-ids.ts), iBeacon and Eddystone ids are recognised before any MAC is
// looked for. Over-redacting a log line is harmless; missing an address is a leak; hashing an
// ordinary id breaks its identity.
export const SEP_CLASS = '[:_.@=+/ -]'
const ONLY_HEX_AND_SEPS = new RegExp(`^(?:[0-9a-f]|${SEP_CLASS})+$`, 'i')
const UNPADDED = new RegExp(`^[0-9a-f]{1,2}(${SEP_CLASS})[0-9a-f]{1,2}(?:\\1[0-9a-f]{1,2}){4}$`, 'i')
/** Seven or eight octets with one separator throughout: how a widened MAC is written in an id. */
const WIDE_OCTETS = new RegExp(`^[0-9a-f]{2}(${SEP_CLASS})[0-9a-f]{2}(?:\\1[0-9a-f]{2}){5,6}$`, 'i')

/**
 * The MAC (12 lower-case hex digits) that a string of hex digits stands for: itself when it has 12;
 * with `wide`, also an EUI-64 made from a MAC (`fffe` after its first 6 digits) or a MAC zero-padded
 * on the left to 13-16 digits.
 */
export function macOfDigits(d: string, wide: boolean): string | undefined {
  const h = d.toLowerCase()
  if (h.length === 12) return h
  if (!wide) return undefined
  if (h.length === 16 && h.slice(6, 10) === 'fffe') return h.slice(0, 6) + h.slice(10)
  if (h.length > 12 && h.length <= 16 && /^0+$/.test(h.slice(0, h.length - 12))) return h.slice(h.length - 12)
  return undefined
}

export const hexOnly = (s: string): string => s.replace(/[^0-9a-f]/gi, '')

/** A MAC widened to 64 bits and written in octets (`aa:bb:cc:ff:fe:dd:ee:ff`). */
export function isWideOctets(s: string): boolean {
  return WIDE_OCTETS.test(s) && macOfDigits(hexOnly(s), true) !== undefined
}

/** Whether an id is a MAC address, in any form the gateway hashes (the site check asks the same). */
export function isMac(s: string): boolean {
  return (ONLY_HEX_AND_SEPS.test(s) && macOfDigits(hexOnly(s), false) !== undefined) || UNPADDED.test(s) || isWideOctets(s)
}

/** The 12 lower-case hex digits of a MAC written in any recognised form. */
export function macDigits(mac: string): string {
  const wide = macOfDigits(hexOnly(mac), true)
  if (wide !== undefined) return wide
  return mac
    .toLowerCase()
    .split(new RegExp(SEP_CLASS))
    .map(p => p.padStart(2, '0'))
    .join('')
}
