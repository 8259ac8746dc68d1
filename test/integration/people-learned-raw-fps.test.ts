// A learned state an older gateway kept, from before probe fingerprints were hashed at ingest
// (gateway/presence/people-learned.ts restoreLearned): its fingerprints are taken up as ingest now
// hashes a reading's (ingest.ts `fingerprint`), so a raw MAC kept as a fingerprint leaves the state
// and the SQLite file at the next save, and the learned spot still matches new readings' fingerprints.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadSiteFile, parseSite } from '../../shared/site.ts'
import { GatewayStore } from '../../gateway/io/store.ts'
import { People, peopleOptions, wifiModels } from '../../gateway/presence/people.ts'
import { LEARNED_NAME, learnedKey } from '../../gateway/presence/people-learned.ts'
import { fingerprint } from '../../gateway/ingest/ingest.ts'
import { SubjectHasher } from '../../gateway/ingest/subjects.ts'
import { T0 } from '../helpers/people-run.ts'

const site = parseSite(loadSiteFile('sites/boutique.site.json').file)
const MAC_FP = 'aa:bb:cc:dd:ee:ff'
const PLAIN_FP = 'ie0001'

function oldState(): string {
  const slots = Array.from({ length: 8 }, (_, i) => [Math.floor(T0 / 600_000) + i, 3])
  const place = (fp: string, x: number) => ({ fp, floor: 0, x, y: 4.5, weight: 40, lastTs: T0, slots, learned: true })
  return JSON.stringify({
    v: 1,
    spots: [{ fp: MAC_FP, floor: 0, x: 12, y: 4.5, until: T0 + 86_400_000, intervalMs: 120_000, addresses: ['h:00000000000000aa'] }],
    places: [place(MAC_FP, 12), place(PLAIN_FP, 6)],
    staysMs: []
  })
}

test('a kept state with a raw-MAC and a plain fingerprint: taken up as ingest hashes them, and the next save leaves no raw MAC in the state or the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'people-raw-fps-'))
  let store = new GatewayStore(dir)
  store.saveLearned(LEARNED_NAME, learnedKey(site), oldState(), T0)
  store.close()
  const hasher = new SubjectHasher('a store secret')
  store = new GatewayStore(dir)
  const p = new People(site, wifiModels(site), peopleOptions(site), mac => hasher.hash(mac), store, hasher)
  assert.equal(p.learned.restored, true, p.learned.problem ?? '')
  const want = [MAC_FP, PLAIN_FP].map(f => fingerprint(f, hasher))
  assert.match(want[0], /^h:[0-9a-f]{16}$/)
  // Learned as new readings' fingerprints are: the spot keeps taking the device's pieces.
  assert.deepEqual(new Set(p.wifi.modelSpots.learned().map(s => s.fp)), new Set(want))
  assert.deepEqual(
    p.wifi.spots.chainedSpots().map(s => s.fp),
    [want[0]]
  )
  p.learned.save(T0 + 60_000, true)
  const kept = store.loadLearned(LEARNED_NAME)?.state ?? ''
  assert.ok(!kept.includes(MAC_FP), `the kept state holds the raw MAC: ${kept.slice(0, 200)}`)
  // A plain fingerprint stays raw only as long as ingest keeps it raw (never a MAC).
  assert.equal(kept.includes(`"${PLAIN_FP}"`), want[1] === PLAIN_FP)
  store.close()
  for (const f of readdirSync(dir)) assert.ok(!readFileSync(join(dir, f)).includes(MAC_FP), `${f} holds the raw MAC`)
  rmSync(dir, { recursive: true, force: true })
})
