// The test pool's shared memory (test-pool.ts, pool-worker-tests.ts): a control block that never
// moves, and the asks, their status, the traffic maps and logs they read, and their answers,
// which grow as needed (a worker is posted the new buffers before the round that uses them).
import { OFFSET_HALF } from './zone-costs.ts'

/** The control block's slots (Int32). */
export const TCTRL = {
  /** The round: bumped (and notified) when a tick's asks are ready. */
  seq: 0,
  /** Asks claimed so far this round; a worker takes ask count-1-k for the k it drew (from the back: the main thread takes them from the front). */
  next: 1,
  count: 2,
  /** Answers written (notified), for the main thread to sleep on. */
  done: 3,
  stop: 4,
  /** Workers between drawing an ask and writing its answer: a new round waits for none. */
  inflight: 5
} as const
export const TCTRL_SLOTS = 8

/** An ask's status: its round above, its state below. */
export const STATE_BITS = 3
export const ROUND_LIMIT = 1 << (31 - STATE_BITS)
export const POSTED = 0
export const TAKEN = 1
export const DONE = 2
/** Taken by the main thread, or dropped at the end of the round. */
export const MAIN = 3
/** The worker could not answer (its error is counted on the main thread, which answers). */
export const FAILED = 4

/**
 * Numbers before an ask's packed input. A shop-entry test: zone, base, x, y, map at, total, cells,
 * log at, logged, then the fix's solver question; a street-walk test: zone, the sure gap asked,
 * the offset prior's mean and spread, its fixes, then those (walk-ask-codec.ts). Either way the
 * kind last.
 */
export const ASK_HEAD = 10
export const KIND = 9
export const ENTRY_TEST = 0
export const WALK_TEST = 1
export const STEPS = 2 * OFFSET_HALF + 1
/** Numbers of an answer: the costs inside, then outside (a street-walk test's: its two gaps). */
export const ANSWER = 2 * STEPS

export interface TestPoolBuffers {
  ctrl: SharedArrayBuffer
  /** Asks (ASK_HEAD numbers, then the question as pool-codec.ts packs it, or a walk's fixes) and traffic maps. */
  input: SharedArrayBuffer
  /** Each ask's offset in `input` (Int32). */
  index: SharedArrayBuffer
  status: SharedArrayBuffer
  /** The cells counted in the tick, per zone (Int32). */
  log: SharedArrayBuffer
  output: SharedArrayBuffer
}
