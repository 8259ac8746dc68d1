// A reply whose client stops reading must not be kept for as long as TCP keeps its socket (about
// 15 min on a half-open link): a config reply holds its token's one-pull-at-a-time turn until it
// is sent or closed, so one stalled reply locked its gateway out of every later pull (re-tester,
// s12). A gateway gives up on its own after 10 s without progress (gateway/io/uplink.ts).
import type { ServerResponse } from 'node:http'
import type { Context } from './context.ts'
import { ownStallRule } from './hubs/own-stall.ts'
import { DEFAULT_TIMEOUTS } from './timeouts.ts'

/** Bytes of a socket the kernel has taken: written less what is still queued in Node. */
export function taken(s: { bytesWritten: number; writableLength: number }): number {
  return s.bytesWritten - s.writableLength
}

/**
 * Destroys `res`'s connection when it has bytes waiting to go out and none taken by the kernel for
 * `stallMs` (the client reads nothing), calling `onStall` first. A reply still being built (nothing
 * waiting) or sent slowly (each write taken, however slow) is never cut. Stops at the reply's end.
 */
export function cutWhenStalled(res: ServerResponse, stallMs: number, onStall: () => void): void {
  let last = -1
  let since = 0
  const check = () => {
    const s = res.socket
    if (s === null || s.destroyed || res.writableFinished) return stop()
    const now = performance.now()
    const at = taken(s)
    if (s.writableLength === 0 || at !== last) {
      last = at
      since = now
      return
    }
    if (now - since >= stallMs) {
      stop()
      onStall()
      s.destroy()
    }
  }
  // Checked a few times per bound: a stall is cut within a quarter of the bound past it.
  const timer = setInterval(check, Math.max(10, Math.floor(stallMs / 4)))
  timer.unref()
  const stop = () => clearInterval(timer)
  res.once('close', stop)
  check()
}

/** A config reply of `storeId` cut when stalled for limits.replyStallMs: counted and logged (the client sees only its connection closed). */
export function cutConfigWhenStalled(res: ServerResponse, storeId: string, { policy, metrics, log }: Pick<Context, 'policy' | 'metrics' | 'log'>): void {
  const ms = policy.replyStallMs ?? DEFAULT_TIMEOUTS.replyStallMs
  ownStallRule(res)
  cutWhenStalled(res, ms, () => {
    metrics.configStreamsCut.stalled++
    log.warn('config reply cut: its client took none of it for limits.replyStallMs', { storeId, ms })
  })
}
