// Where one loud burst inside is evidence of a visit (people-inside.ts) is learned from the traffic,
// and a restart used to lose it: until something was learned again, loud single bursts inside were
// no visitors. Kept beside the rest of people counting's learning (people-learned.ts saves and takes
// it up at the same times), in the gateway's state (the `learned` table, name `people-inside`, keyed
// by the store and its radio setup: patches are places on its plan). Outcomes only: no device, no
// address, nothing to erase. A saved state of another version, store or radio setup, or that does
// not read as one field by field is left, and said why: the patches are then learned from nothing.
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { PeopleInsideState, type InsideOdds } from './people-inside.ts'

export const INSIDE_NAME = 'people-inside'

const check = TypeCompiler.Compile(PeopleInsideState)

interface Keeper {
  saveLearned: (name: string, key: string, state: string, ts: number) => boolean | void
  loadLearned: (name: string) => { key: string; state: string; ts: number } | null
}

/** Takes up what an earlier run kept under `key`: null when it did or nothing was kept, else why it was left. */
export function restoreInside(keeper: Keeper, key: string, odds: InsideOdds): string | null {
  let saved: { key: string; state: string } | null
  try {
    saved = keeper.loadLearned(INSIDE_NAME)
  } catch (e) {
    return `not read: ${(e as Error).message}`.slice(0, 200)
  }
  if (saved === null) return null
  if (saved.key !== key) return 'kept for another store or radio setup'
  if (typeof saved.state !== 'string' || saved.state.length > 4_000_000) return 'too large'
  let s: unknown
  try {
    s = JSON.parse(saved.state)
  } catch {
    return 'not JSON'
  }
  if (!check.Check(s)) {
    const e = check.Errors(s).First()
    return e ? `${e.path || '/'}: ${e.message}` : 'not a kept state'
  }
  odds.restore(s)
  return null
}

/** Keeps what is learned now (a save the disk refuses is said by the keeper's result: false). */
export function saveInside(keeper: Keeper, key: string, odds: InsideOdds, ts: number): boolean {
  return keeper.saveLearned(INSIDE_NAME, key, JSON.stringify(odds.kept()), ts) !== false
}
