// How people counting (people.ts) classes a Wi-Fi device now, and how many phones its chain holds:
// pure functions of the device, the time and the options.
import { RATE_WINDOW_MS, type WifiDevice } from './wifi-device-types.ts'
import type { PeopleOptions } from './people-types.ts'

/** Bursts in a row placed outside every shop that a device settled inside may give and still count there. */
const MAX_OUT_RUN = 2

/** What a Wi-Fi device is now: counted in a shop, only perhaps (one weak burst), passing, or a fixture. */
export function deviceState(d: WifiDevice, o: Pick<PeopleOptions, 'minInShopSpanMs'>): 'in' | 'single' | 'passer' | 'fixture' {
  if (d.fixture) return 'fixture'
  if (d.lastInShop === null) return 'passer'
  // One burst is what a passer-by placed inside gives too: counted at what such bursts turn out to be
  // (people-singles.ts) until a second comes. Two bursts a passer-by can give too while walking the
  // front (under a minute): they must span more.
  const span = d.firstInShopTs === null ? 0 : d.lastInShop.ts - d.firstInShopTs
  const settled = d.inShop >= 2 && span >= o.minInShopSpanMs
  // Its last burst outside every shop: on the street, or leaving. Unless it had settled inside and
  // only its last burst or two landed outside: a shopper's bursts placed across the wall by
  // location error are far more common than a leaver heard on the way out (who walks out of range
  // within a probe interval or two, and counts until the presence time runs out, as one whose
  // last burst was inside does). A third burst outside in a row is a way out.
  if (d.last !== d.lastInShop && !(settled && d.outRun <= MAX_OUT_RUN)) return 'passer'
  return settled ? 'in' : 'single'
}

/**
 * Phones a device's chain holds now. Bursts coming at `multiPhoneRate` times one phone's rate
 * or more (`meanProbeIntervalMs`; bursts counted over the last 10 minutes) mean several phones
 * of one model in one
 * place linked into one chain in turn: counted as the rate says, at most three. Below it, one:
 * a phone's own intervals vary that much.
 */
export function chainPhones(d: WifiDevice, t: number, o: Pick<PeopleOptions, 'meanProbeIntervalMs' | 'multiPhoneRate'>): number {
  // A radio carrying its counter whose new addresses of late all carried it on (the first may not): one phone.
  if (d.carries && d.recent.filter(ts => ts > t - RATE_WINDOW_MS).length - d.recentBySeq.filter(ts => ts > t - RATE_WINDOW_MS).length <= 1) return 1
  // Bursts placed outside are not phones in the shop: a chain that took in a street sender's
  // addresses would hold them as more phones inside.
  const recent = d.recent.filter(ts => ts > t - RATE_WINDOW_MS).length - d.recentOut.filter(ts => ts > t - RATE_WINDOW_MS).length
  // n bursts since it was first heard span about n intervals: its span plus the one before the first.
  const rate = (recent * o.meanProbeIntervalMs) / Math.min(RATE_WINDOW_MS, t - d.firstTs + o.meanProbeIntervalMs)
  return rate >= o.multiPhoneRate ? Math.min(3, rate) : 1
}
