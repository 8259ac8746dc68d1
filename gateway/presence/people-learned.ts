// What people counting learned that a restart used to lose (people.ts): the spots of learned
// fixtures that rotate their address (wifi-device-spots.ts: those a fixture's chain taught, with the
// addresses they were learned from, so that an erasure still finds them), the places where a model
// is heard day and night (model-spots.ts: a spot learned across chains, and the candidates on their
// way to one with their coverage over the last day, which a restart would otherwise start again),
// and the completed stays the longest plausible visit is learned from (people-stays.ts). Fixtures'
// addresses are kept apart (the store's `people_fixtures` table). Saved in the gateway's state (the
// `learned` table, name `people-learned`, keyed by the store and its radio setup: spots are places
// on its plan) at its first count, then every 10 minutes of event time, at a stop and after an erasure; taken up at start.
// A saved state of another version, another store or radio setup, or that does not read as one is
// left, and said why: people counting then learns from nothing, as at a first start.
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { FixtureSpots } from './wifi-device-spots.ts'
import { MAX_SPOTS } from './wifi-device-spots.ts'
import type { ModelSpots } from './model-spots.ts'
import type { LongStay } from './people-stays.ts'
import { STAY_SAMPLE } from './people-stays.ts'
import { SLOT_MS, DAY_MS } from './wifi-device-types.ts'
import { createHash } from 'node:crypto'
import type { Site } from '../../shared/site.ts'
import { fingerprint } from '../ingest/ingest.ts'
import type { SubjectHasher } from '../ingest/subjects.ts'
import { restoreInside, saveInside } from './people-inside-keep.ts'
import type { InsideOdds } from './people-inside.ts'

export const LEARNED_NAME = 'people-learned'
/** Saved at most this often while counting, ms of event time (a day's learning is lost by at most this much). */
export const LEARNED_SAVE_MS = 600_000
/** Places kept at most: the learned ones and those heard most over the last day (shoppers' places come and go). */
const MAX_PLACES = 200
/** A place heard in fewer of the last day's slots is not worth keeping (an hour). */
const MIN_PLACE_SLOTS = 6
/** Addresses kept per spot (for erasure: the latest a fixture used). */
const MAX_ADDRESSES = 50

const Fp = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9:_.-]+$' })
const Coord = Type.Number({ minimum: -1e5, maximum: 1e5 })
const Floor = Type.Integer({ minimum: -100, maximum: 1000 })
const Ts = Type.Number({ minimum: 0, maximum: 1e14 })
export const PeopleLearnedState = Type.Object(
  {
    // 2 (since s12): a place says whether it was learned with its neighbours (`pooled`); a state of 1 lacks it and is read all the same.
    v: Type.Union([Type.Literal(1), Type.Literal(2)]),
    spots: Type.Array(
      Type.Object(
        {
          fp: Fp,
          floor: Floor,
          x: Coord,
          y: Coord,
          until: Ts,
          intervalMs: Type.Number({ minimum: 0, maximum: DAY_MS }),
          addresses: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: MAX_ADDRESSES })
        },
        { additionalProperties: false }
      ),
      { maxItems: MAX_SPOTS }
    ),
    places: Type.Array(
      Type.Object(
        {
          fp: Fp,
          floor: Floor,
          x: Coord,
          y: Coord,
          weight: Type.Integer({ minimum: 0, maximum: 1e6 }),
          lastTs: Ts,
          slots: Type.Array(Type.Tuple([Type.Integer({ minimum: 0, maximum: 1e14 / SLOT_MS }), Type.Integer({ minimum: 1, maximum: 1e6 })]), { maxItems: DAY_MS / SLOT_MS + 1 }),
          learned: Type.Boolean(),
          pooled: Type.Optional(Type.Boolean())
        },
        { additionalProperties: false }
      ),
      { maxItems: MAX_PLACES }
    ),
    staysMs: Type.Array(Type.Number({ minimum: 0, maximum: 1e10 }), { maxItems: STAY_SAMPLE })
  },
  { additionalProperties: false }
)
export type PeopleLearnedStateT = Static<typeof PeopleLearnedState>
const check = TypeCompiler.Compile(PeopleLearnedState)

/**
 * What a kept state must have been kept under: the store, and where its sensors are (id, floor,
 * position, height): moving a sensor moves the places the solver gives, and a spot learned before
 * would lie elsewhere. A sensor's other settings (its offset, its radios) and the order the site file
 * lists them in do not move a learned place: editing them must not throw the learning away.
 */
export function learnedKey(site: Site): string {
  const sensors = site.file.features
    .filter(f => f.properties.kind === 'sensor')
    .map(f => {
      const p = f.properties as { id?: unknown; floor?: unknown; z?: unknown }
      return [String(p.id), p.floor ?? 0, (f.geometry as { coordinates?: unknown }).coordinates ?? null, p.z ?? null]
    })
    .sort((a, b) => (a[0] as string).localeCompare(b[0] as string))
  const hash = createHash('sha256').update(JSON.stringify(sensors)).digest('hex').slice(0, 16)
  return `${site.storeId}/${hash}`
}

export interface LearnedKeeper {
  /**
   * Keeps the state; `mustKeep` (an erasure): through the writes that wait while the disk refuses
   * them, as the erased rows are, else skipped then. Returns false when skipped.
   */
  saveLearned: (name: string, key: string, state: string, ts: number, mustKeep?: boolean) => boolean | void
  loadLearned: (name: string) => { key: string; state: string; ts: number } | null
}

export interface LearnedParts {
  spots: FixtureSpots
  places: ModelSpots
  stay: LongStay
  /** The store's hasher, for fingerprints as ingest hashes them now (ingest.ts `fingerprint`): one kept before they were hashed (a raw MAC) must not stay on disk. */
  fps?: SubjectHasher
  /** Where a loud burst inside is evidence of a visit: kept in its own row (people-inside-keep.ts), a bad one left alone. */
  inside?: InsideOdds
}

/** A fingerprint ingest has hashed already: `h:` and 16 hex digits (subjects.ts), passed through as is. */
const HASHED_FP = /^h:[0-9a-f]{16}$/

/** What is kept of people counting's learning now. */
export function learnedState(p: LearnedParts): PeopleLearnedStateT {
  return {
    v: 2,
    spots: p.spots
      .chainedSpots()
      .map(s => ({ fp: s.fp, floor: s.floor, x: s.x, y: s.y, until: s.until, intervalMs: s.intervalMs, addresses: [...s.addresses].slice(-MAX_ADDRESSES) })),
    places: p.places.kept(MIN_PLACE_SLOTS, MAX_PLACES),
    staysMs: p.stay.kept()
  }
}

/**
 * Takes up what an earlier run kept under `key`: whether it did, or why not (nothing kept, another
 * store or radio setup, not a state of this version); `found`: an earlier run kept a state at all.
 */
export function restoreLearned(keeper: LearnedKeeper, key: string, p: LearnedParts): { restored: boolean; found: boolean; problem: string | null } {
  const saved = keeper.loadLearned(LEARNED_NAME)
  if (saved === null) return { restored: false, found: false, problem: null }
  const left = (problem: string) => ({ restored: false, found: true, problem })
  if (saved.key !== key) return left('kept for another store or radio setup')
  let s: unknown
  try {
    s = JSON.parse(saved.state)
  } catch {
    return left('not JSON')
  }
  if (!check.Check(s)) {
    const e = check.Errors(s).First()
    return left(e ? `${e.path || '/'}: ${e.message}` : 'not a kept state')
  }
  // Kept by an older gateway, a fingerprint may be raw: hashed as new readings' are, so it still matches them and the next save holds no raw one.
  const fp = (f: string) => (p.fps === undefined || HASHED_FP.test(f) ? f : fingerprint(f, p.fps))
  for (const sp of s.spots) p.spots.restoreChained({ ...sp, fp: fp(sp.fp), addresses: new Set(sp.addresses) })
  for (const pl of s.places) p.places.restore({ ...pl, fp: fp(pl.fp) })
  p.stay.restore(s.staysMs)
  return { restored: true, found: true, problem: null }
}

/** After a save the disk refused, the next is tried this much later (ms), not at every count. */
const LEARNED_RETRY_MS = 60_000

/** Keeps people counting's learning in the gateway's state as it runs, and takes it up at start. */
export class LearnedKeeping {
  private savedAt = -Infinity
  /** An erasure took something out since the last save: the kept row still holds it. */
  private erased = false
  /** Why a kept state was left at start (null: taken up, or none kept). */
  readonly problem: string | null
  readonly restored: boolean
  /** An earlier run of this gateway kept a state here, taken up or not: the gateway ran before, no first start. */
  readonly found: boolean
  /** Why the kept patches of loud single bursts were left at start (null: taken up, or none kept); the rest is taken up all the same. */
  readonly insideProblem: string | null

  constructor(
    private readonly keeper: LearnedKeeper | null,
    /** The store and its radio setup: what a kept state must have been kept under. */
    readonly key: string,
    private readonly parts: LearnedParts
  ) {
    const r = keeper === null ? { restored: false, found: false, problem: null } : restoreLearned(keeper, key, parts)
    this.restored = r.restored
    this.found = r.found
    this.problem = r.problem
    this.insideProblem = keeper === null || parts.inside === undefined ? null : restoreInside(keeper, key, parts.inside)
  }

  /** An erasure took a subject out of what is kept: saved by `saveErased()`, once for a whole slice of erasures. */
  forgot(): void {
    this.erased = this.keeper !== null
  }

  /** After erasures: the kept row rewritten if they took anything out of it (through the writes that wait, see LearnedKeeper). */
  saveErased(t: number): void {
    if (this.erased) this.save(t, true)
  }

  /**
   * Saves what is learned at t if the last save is `LEARNED_SAVE_MS` old (or at once: a stop, an
   * erasure). A run's first count saves at once (nothing saved yet): the kept row is what tells the
   * next start this folder's gateway ran before (no cold start, people-cold.ts), and a gateway killed
   * before the period is up must leave it behind.
   */
  save(t: number, now = false): void {
    // After an erasure not saved with it (no saveErased() call), the next count saves at once.
    if (this.keeper === null || (!now && !this.erased && Math.abs(t - this.savedAt) < LEARNED_SAVE_MS)) return
    const ts = Number.isFinite(t) ? t : 0
    const ok = this.keeper.saveLearned(LEARNED_NAME, this.key, JSON.stringify(learnedState(this.parts)), ts, this.erased) !== false
    // No subject in it: an erasure does not make it wait through a refusing disk.
    if (ok && this.parts.inside !== undefined) saveInside(this.keeper, this.key, this.parts.inside, ts)
    // Moved only once written, so that a save the disk refused is tried again soon.
    if (ok) this.erased = false
    if (Number.isFinite(t)) this.savedAt = ok ? t : t - LEARNED_SAVE_MS + LEARNED_RETRY_MS
  }
}
