// The solver pool's shared memory (pool.ts, pool-worker-solver.ts): a control block that never moves,
// and the questions, their offsets, their status and their answers, which grow as devices come.

/** The control block's slots (Int32). */
export const CTRL = {
  /** The round: bumped (and notified) when a tick's questions are ready. */
  seq: 0,
  /** The next question to claim, with the round's low bits above it (a late worker cannot claim the next round's). */
  next: 1,
  /** Questions in this round. */
  count: 2,
  /** Answers written (notified), for the main thread to sleep on. */
  done: 3,
  /** Set when the pool closes. */
  stop: 4
} as const
export const CTRL_SLOTS = 8
export const ROUND_BITS = 20
export const INDEX_MASK = (1 << ROUND_BITS) - 1
export const ROUND_MASK = (1 << (31 - ROUND_BITS)) - 1

export interface PoolBuffers {
  ctrl: SharedArrayBuffer
  /** Questions, packed (pool-codec.ts), each naming its sensor models by their place in `models`. */
  input: SharedArrayBuffer
  /** The round's sensor models, packed once (pool-sensor-table.ts). */
  models: SharedArrayBuffer
  /** Each question's offset in `input` (Int32). */
  index: SharedArrayBuffer
  /** The round each answer was written in (Int32): an answer counts only in its own round. */
  status: SharedArrayBuffer
  /** Answers, packed. */
  output: SharedArrayBuffer
}
