// Today's visitors that were a fixture's pieces (people.ts). An always-on device that rotates its
// address breaks into pieces, and each piece that settled inside was counted as a visitor until the
// device was learned as a fixture by its spot (wifi-device-spots.ts, model-spots.ts): a spot
// learned across chains needs its model heard there through most of a day, so on the first day
// such a device gives a visitor every time its chain breaks. When a spot is learned, today's
// visitors of its model at it that follow one another in time (one radio, as the spot takes its
// present pieces: oneRadio) are taken back; a shopper of its model there heard while a piece was
// overlaps it and stays a visitor.
import { oneRadio, type FixtureSpot } from './wifi-device-spots.ts'
import type { WifiDevice } from './wifi-device-types.ts'

/** Visitors held at most (a busy store's day of rotating phones with a fingerprint; a sender's beyond it are not looked at again). */
const MAX_HELD = 50_000

export class DayPieces {
  private held: WifiDevice[] = []
  /** Set while an erasure drops devices (a device dropped as idle is kept: a piece of the morning). */
  private erasing = false

  /** A device just counted a visitor today: kept if it could be a rotating fixture's piece. */
  counted(d: WifiDevice, today: string): void {
    if (d.stable || d.fp === null || d.flood) return
    if (this.held.length >= MAX_HELD) this.held = this.held.filter(h => h.countedDay === today)
    if (this.held.length < MAX_HELD) this.held.push(d)
  }

  /** A device the linker drops: forgotten if an erasure drops it. */
  drop(d: WifiDevice): void {
    if (this.erasing) this.held = this.held.filter(h => h !== d)
  }

  /** An erasure (`dropAll` drops the linker's devices holding the subject): those, and one dropped before under the address, are forgotten. */
  erase(subject: string, dropAll: () => void): void {
    this.erasing = true
    try {
      dropAll()
    } finally {
      this.erasing = false
    }
    this.held = this.held.filter(h => h.address !== subject)
  }

  /** Of today's visitors, those a spot just learned takes for its fixture's pieces (`radiusM`: as the spot takes a present piece). */
  of(s: FixtureSpot, radiusM: number, today: string): WifiDevice[] {
    this.held = this.held.filter(h => h.countedDay === today)
    const at = this.held.filter(d => {
      if (d.fp !== s.fp || d.last.floor !== s.floor || d.bursts === 0) return false
      const r = Math.max(radiusM, (2 * radiusM) / Math.sqrt(d.bursts))
      return Math.hypot(d.sumX / d.bursts - s.x, d.sumY / d.bursts - s.y) <= r
    })
    return oneRadio(at)
  }
}
