// The replay's flow control against a real aedes broker whose consumer falls behind (issue 27:
// nights benches that never ended on a loaded machine). The in-process subscription stands for the
// gateway: aedes reads no more from a sender until it has called `done`, as the gateway's held
// acknowledgements do (gateway/work-pump.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { startBroker, type EmbeddedBroker } from '../../shared/broker.ts'
import { BoundedPublisher, ConnectionLostError } from '../../simulators/publisher.ts'
import { waitFor, waitSettled } from '../helpers/gateway.ts'

/** Subscribes in-process to `t/#`; `hold` decides when each message's `done` is called. */
async function consumer(broker: EmbeddedBroker, hold: (done: () => void) => void): Promise<{ count: () => number }> {
  let n = 0
  await new Promise<void>(resolve =>
    broker.broker.subscribe(
      't/#',
      (_packet, done) => {
        n++
        hold(done)
      },
      resolve
    )
  )
  return { count: () => n }
}

/** `p`, or a rejection naming `what` past `ms`: a wait that never ends fails the test instead of hanging it. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting for ${what} after ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, bound])
  } finally {
    clearTimeout(timer)
  }
}

/** The keepalive's timer, ticked by the test (mqtt.js takes a `timerVariant`): one tick is half the keepalive. */
function manualTimer(): { set: (fn: () => void, ms: number) => number; clear: (id: number) => void; tick: () => void } {
  let fn: (() => void) | null = null
  let id = 0
  return {
    set: f => {
      fn = f
      return ++id
    },
    clear: cleared => {
      if (cleared === id) fn = null
    },
    tick: () => fn?.()
  }
}

test('a publisher whose connection closes under unsent QoS 0 messages fails instead of waiting forever', async () => {
  const broker = await startBroker({ port: 0 })
  const held: Array<() => void> = []
  await consumer(broker, done => held.push(done))
  const timer = manualTimer()
  const client = await mqtt.connectAsync(broker.url, { keepalive: 60, reconnectPeriod: 200, timerVariant: timer })
  const pub = new BoundedPublisher(client, 64)
  let closes = 0
  client.on('close', () => closes++)
  try {
    const body = Buffer.alloc(16 * 1024, 'x')
    const sending = (async () => {
      for (let i = 0; i < 10_000; i++) await pub.publish('t/a', body, { qos: 0 })
      await pub.drain()
    })().then(
      () => null,
      (e: unknown) => e
    )
    // The broker reads nothing more, so its ping answer never comes: mqtt.js gives up at the third
    // tick and reconnects on a new socket, leaving the messages it had not written behind.
    await waitSettled(() => pub.published, 300, 20_000, 'the sockets to fill')
    for (let i = 0; i < 3; i++) timer.tick()
    const err = await within(sending, 15_000, 'the publisher to settle')
    assert.equal(closes, 1, 'the keepalive closed the connection')
    assert.ok(err instanceof ConnectionLostError, `fails with ConnectionLostError, got ${String(err)}`)
    assert.ok(err.lost > 0 && err.lost <= 64)
    await assert.rejects(pub.publish('t/a', body, { qos: 0 }), ConnectionLostError)
  } finally {
    pub.detach()
    for (const d of held.splice(0)) d()
    await client.endAsync(true)
    await broker.close()
  }
})

test('a broker that reads slower than the publisher writes, but reads, keeps its connection', async () => {
  const broker = await startBroker({ port: 0 })
  // A gateway far behind: it holds each message until told, so what the publisher writes queues in
  // the sockets, and a ping waits behind all of it.
  let passing = false
  const held: Array<() => void> = []
  const c = await consumer(broker, done => (passing ? done() : held.push(done)))
  const release = (): void => {
    for (const d of held.splice(0)) d()
  }
  const timer = manualTimer()
  const client = await mqtt.connectAsync(broker.url, { keepalive: 60, reconnectPeriod: 200, timerVariant: timer })
  const pub = new BoundedPublisher(client, 64)
  let closes = 0
  client.on('close', () => closes++)
  const n = 20_000
  try {
    const body = Buffer.alloc(1024, 'x')
    const sending = (async () => {
      for (let i = 0; i < n; i++) await pub.publish('t/a', body, { qos: 0 })
      await pub.drain()
    })()
    // The sockets are full: the publisher waits for room, and what it writes now waits behind megabytes.
    await waitSettled(() => pub.published, 300, 20_000, 'the sockets to fill')
    assert.ok(pub.published < n, 'the broker holds the publisher back')
    timer.tick()
    timer.tick() // a ping, queued behind everything written so far
    // The broker reads a little (a slow gateway), so the socket takes more: progress, no ping answer yet.
    const before = pub.published
    await waitFor(
      () => {
        release()
        return pub.published > before
      },
      20_000,
      'the socket to take more'
    )
    timer.tick() // without the drain counting as an answer, this third tick is mqtt.js' keepalive timeout
    passing = true
    release()
    await within(sending, 60_000, 'every message to be sent')
    assert.equal(closes, 0, 'no keepalive timeout while the broker kept reading')
    assert.equal(pub.published, n)
    await waitFor(() => c.count() === n, 20_000, 'the broker to read every message')
  } finally {
    pub.detach()
    passing = true
    release()
    await client.endAsync(true)
    await broker.close()
  }
})
