// Reviewer (s11): the streamed config reply (server/config-reply.ts streamed) was tested only end
// to end with a list built in under a second: no keep-alive space was ever sent, and neither a
// build failing midway nor the client leaving was tried. Here its tick is injected: each wait
// between spaces is settled by the test, never by the clock.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { streamed, type StreamCut, type Tick } from '../../server/config-reply.ts'

/** A tick the test settles by hand; what was asked and cancelled is recorded. */
function manualTick() {
  const waits: Array<{ ms: number; fire: () => void; cancelled: boolean }> = []
  const tick: Tick = ms => {
    let fire = () => {}
    const wait = new Promise<void>(resolve => {
      fire = resolve
    })
    const w = { ms, fire, cancelled: false }
    waits.push(w)
    return {
      wait,
      cancel: () => {
        w.cancelled = true
      }
    }
  }
  return { tick, waits }
}

function deferred<T>() {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

test('while the list is built a space is sent at each tick, then the list and the tail: valid JSON', async () => {
  const { tick, waits } = manualTick()
  const list = deferred<string>()
  const cuts: StreamCut[] = []
  const g = streamed({ head: '{"devices":', devices: list.promise, tail: ',"removed":[]}' }, { everyMs: 250, tick, onCut: w => cuts.push(w) })
  const parts = [(await g.next()).value]
  for (let i = 0; i < 3; i++) {
    const next = g.next()
    await new Promise(setImmediate)
    waits[i].fire()
    parts.push((await next).value)
  }
  const next = g.next()
  await new Promise(setImmediate)
  list.resolve('[1,2]')
  for (let r = await next; !r.done; r = await g.next()) parts.push(r.value)
  assert.deepEqual(parts, ['{"devices":', ' ', ' ', ' ', '[1,2]', ',"removed":[]}'])
  assert.deepEqual(JSON.parse(parts.join('')), { devices: [1, 2], removed: [] })
  assert.deepEqual(
    waits.map(w => [w.ms, w.cancelled]),
    [
      [250, true],
      [250, true],
      [250, true],
      [250, true]
    ],
    'every wait asked is dropped, the last one when the list won'
  )
  assert.deepEqual(cuts, [])
})

test('a list that fails midway ends the body with its error, never with the tail, and says so once', async () => {
  const { tick, waits } = manualTick()
  const list = deferred<string>()
  const cuts: Array<[StreamCut, unknown]> = []
  const g = streamed({ head: '{"devices":', devices: list.promise, tail: '}' }, { tick, onCut: (w, e) => cuts.push([w, e]) })
  assert.equal((await g.next()).value, '{"devices":')
  const next = g.next()
  await new Promise(setImmediate)
  waits[0].fire()
  assert.equal((await next).value, ' ')
  const after = g.next()
  await new Promise(setImmediate)
  const boom = new Error('material of a device failed')
  list.reject(boom)
  await assert.rejects(after, boom)
  assert.deepEqual(cuts, [['build_failed', boom]])
  assert.equal(waits.at(-1)?.cancelled, true, 'no timer left behind')
})

test('a client that leaves stops the stream: no more waits asked, the cut counted as the client leaving', async () => {
  const { tick, waits } = manualTick()
  const list = deferred<string>()
  const cuts: StreamCut[] = []
  const g = streamed({ head: '{"devices":', devices: list.promise, tail: '}' }, { tick, onCut: w => cuts.push(w) })
  await g.next()
  const next = g.next()
  await new Promise(setImmediate)
  waits[0].fire()
  assert.equal((await next).value, ' ')
  await g.return(undefined)
  assert.deepEqual(cuts, ['client_left'])
  assert.equal(waits.length, 1)
  assert.equal(waits[0].cancelled, true)
  // The build goes on for the next pull; its failure later is nobody's unhandled rejection.
  list.reject(new Error('late failure'))
  await new Promise(setImmediate)
})
