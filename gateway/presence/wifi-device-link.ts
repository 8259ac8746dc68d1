// Which device a burst from a new randomized Wi-Fi address continues (wifi-devices.ts): 802.11
// sequence continuity first, then the probe's fingerprint, timing, place and the shop's wall.
import type { Burst, WifiDevice, WifiDeviceOptions } from './wifi-device-types.ts'

/** The device a fresh randomized address most likely continues (and whether by its counter), or null for a new device. */
export function continuation(devices: Iterable<WifiDevice>, b: Burst, o: WifiDeviceOptions): { d: WifiDevice; bySeq: boolean } | null {
  let best: WifiDevice | null = null
  let bestScore = Infinity
  let bestBySeq = false
  for (const d of devices) {
    // A suspect is a sender's invented device: a new address continuing it would be lost with it.
    if (d.stable || d.suspect) continue
    const gap = b.ts - d.lastTs
    if (gap < o.minLinkGapMs || gap > o.stayGapMs) continue
    // Information elements differ between phone models and OS versions: a different one is another phone.
    if (b.fp !== null && d.fp !== null && b.fp !== d.fp) continue
    // A fixture stays put: measured from its mean spot, on whichever side of a wall its bursts
    // land, and preferred, so that a rotating fixture does not break into new devices that
    // would count until learned again.
    const [x, y] = d.fixture ? [d.sumX / d.bursts, d.sumY / d.bursts] : [d.last.x, d.last.y]
    const dist = b.floor === d.last.floor ? Math.hypot(b.x - x, b.y - y) : Infinity
    const near = dist <= o.maxLinkDistanceM && gap <= o.maxLinkGapMs
    const jump = b.seq !== null && d.lastSeq !== null ? (b.seq - d.lastSeq + 4096) % 4096 : null
    // Near and in time, a counter carried on within `maxSeqJump`; beyond (a burst placed far off by
    // the solver, one lost or taken by another device), only by a radio known to carry its counter
    // and within a few times the largest step it took (a stranger's counter falls there rarely).
    const bound = near ? o.maxSeqJump : d.carries && dist < Infinity ? Math.min(o.maxSeqJump, Math.max(16, 4 * d.seqJump)) : 0
    const bySeq = jump !== null && jump >= 1 && jump <= bound
    if (!near && !bySeq) continue
    // A radio seen carrying its counter across address changes does so again: a new address that
    // does not carry it on is another radio's (most often a phone of the same model near it).
    if (d.carries && jump !== null && !bySeq) continue
    // A counter carried across the address change: near-certain, and beats any place, timing or
    // wall (a device near the wall, a fixture most often, has its bursts placed on both sides).
    if (bySeq) {
      const score = -1 + (jump as number) / o.maxSeqJump
      if (score < bestScore) {
        bestScore = score
        best = d
        bestBySeq = true
      }
      continue
    }
    // A device that has stayed a while inside (a long visit, a fixture not yet learned) keeps its
    // bursts that land across the wall: breaking it there would make a new device of each half.
    // Not a chain that stayed outside (or came in only lately): a street sender's chains would
    // take the shoppers' addresses by place alone.
    const cross = (b.shop === null) !== (d.last.shop === null)
    const settled = d.fixture || settledInside(d, o)
    const wall = !settled && cross ? o.wallPenalty : 0
    if (wall === Infinity) continue
    const score = dist / o.maxLinkDistanceM + gap / o.maxLinkGapMs + wall - (d.fixture ? 0.5 : 0)
    if (score < bestScore) {
      bestScore = score
      best = d
      bestBySeq = false
    }
  }
  return best === null ? null : { d: best, bySeq: bestBySeq }
}

/** Heard inside a shop (two bursts or more) across `settledMs` up to its last burst. */
function settledInside(d: WifiDevice, o: WifiDeviceOptions): boolean {
  return d.firstInShopTs !== null && d.inShop >= 2 && d.lastTs - d.firstInShopTs >= o.settledMs
}
