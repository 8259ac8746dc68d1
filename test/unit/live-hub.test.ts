// The live dashboard's hub in one process (SQLite): the latest snapshot at once on following, each
// snapshot once, and an erasure that drops a last snapshot without stopping the streams already
// open from taking the next one (versions keep rising); those streams are told (`erased`), so that a
// snapshot queued for a stalled one is dropped rather than written later.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LiveHub } from '../../server/hubs/live-hub.ts'

test('a follower gets the latest snapshot at once, then each new one once; an erasure empties the last one only', async () => {
  const hub = new LiveHub()
  const got = (into: string[]) => (event: string, data: string) => {
    into.push(`${event} ${data}`)
  }
  await hub.publishSnapshot('s1', { n: 1, positions: [{ subject: 'app:00000000000000aa' }] })
  const early: string[] = []
  const offEarly = await hub.follow('s1', got(early))
  await hub.publishSnapshot('s1', { n: 2, positions: [{ subject: 'app:00000000000000aa' }] })
  await hub.publishEvents('s1', [{ id: 'e1' }])
  await hub.publishSnapshot('s2', { n: 99 })
  await hub.forget('app:00000000000000aa')
  assert.equal(await hub.latest('s1'), undefined, 'the erased shopper is no last snapshot')
  assert.notEqual(await hub.latest('s2'), undefined, 'another store keeps its own')
  const late: string[] = []
  const offLate = await hub.follow('s1', got(late))
  await hub.publishSnapshot('s1', { n: 3 })
  offEarly()
  offLate()
  await hub.publishSnapshot('s1', { n: 4 })
  assert.deepEqual(
    early,
    [
      'snapshot {"n":1,"positions":[{"subject":"app:00000000000000aa"}]}',
      'snapshot {"n":2,"positions":[{"subject":"app:00000000000000aa"}]}',
      'event {"id":"e1"}',
      'forgotten app:00000000000000aa',
      'erased ',
      'snapshot {"n":3}'
    ],
    'the erasure told to open streams (their queued events about the subject, and snapshot, go)'
  )
  assert.deepEqual(late, ['snapshot {"n":3}'], 'nothing at once after the erasure, then the next snapshot')
})
