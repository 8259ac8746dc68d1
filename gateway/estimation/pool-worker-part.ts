// What a worker (pool-worker.ts) runs for one pool: its round counter, its stop slot, its grown
// memory, and a round's work.
export interface Part {
  /** The pool's round counter now. */
  seq(): number
  stopped(): boolean
  /** The pool's memory grew: these buffers from now on. */
  grown(buffers: unknown): void
  /** Works round `seq` until none of its work is left (or the round is over). */
  work(seq: number): void
}
