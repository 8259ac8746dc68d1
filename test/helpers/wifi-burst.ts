// One Wi-Fi probe burst fed straight to people counting, as each sensor in reach of (x, y) would
// hear it (the people tests' path loss): the people tests' one way to place a phone.
import type { Site } from '../../shared/site.ts'
import type { People } from '../../gateway/presence/people.ts'

/** A burst of `mac` from (x, y) at `ts`; by default a global (vendor) address, its own device, never linked to another. */
export function wifiBurst(p: People, site: Site, mac: string, x: number, y: number, ts: number, o: { randomized?: boolean; fp?: string } = {}): void {
  const fp = o.fp ?? 'ie0003'
  for (const s of site.sensors.values()) {
    const rssi = Math.round(-45 - 22 * Math.log10(Math.hypot(x - s.x, y - s.y, 1.6)))
    if (rssi >= -95) p.observeWifi({ subject: mac, randomized: o.randomized ?? false, sensor: s.id, rssi, ts, fp })
  }
}

const MIN = 60_000

/**
 * Newcomers first placed at `at`, one every 2 min: each bursts `inside` times in the shop's middle
 * from 60 s later, 40 s apart (shoppers), or is never heard again (passers-by). Returns the time
 * when every outcome has settled (inside, or gone for longer than the presence time).
 */
export function newcomers(p: People, site: Site, at: [number, number], n: number, comeIn: boolean, from: number, inside = 1): number {
  let ts = from
  for (let i = 0; i < n; i++, ts += 2 * MIN) {
    const mac = `h:${comeIn ? 'shopper' : 'passer'}-${at.join('_')}-${i}`
    wifiBurst(p, site, mac, at[0], at[1], ts)
    p.now(ts + 2000, [], [], 0)
    for (let k = 0; k < inside && comeIn; k++) wifiBurst(p, site, mac, 10, 6, ts + MIN + k * 40_000)
    p.now(ts + MIN + (inside - 1) * 40_000 + 2000, [], [], 0)
  }
  const end = ts + 5 * MIN
  p.now(end, [], [], 0)
  return end
}
