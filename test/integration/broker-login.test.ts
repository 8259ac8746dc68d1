// The embedded broker's login path (gateway/io/broker-auth.ts): failures slow the guesser down per
// username and per address, the right password is never locked out, and an unknown username
// costs as much as a known one.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import type { Client } from 'aedes'
import {
  brokerAuth,
  hashPassword,
  LoginThrottle,
  LOGIN_DELAY_BASE_MS,
  LOGIN_DELAY_MAX_MS,
  LOGIN_FORGET_MS,
  LOGIN_WAITING_MAX,
  type AuthCounters
} from '../../gateway/io/broker-auth.ts'

const auth = { sensors: { b1: hashPassword('right-b1') }, phones: { 'phone:d1': hashPassword('right-d1') }, readers: { r1: hashPassword('right-r1') } }
const client = (addr: string) => ({ conn: { remoteAddress: addr } }) as unknown as Client

function setup() {
  const counters: AuthCounters = { failedLogins: 0, rateLimited: 0, deniedPublish: 0, deniedSubscribe: 0 }
  const waits: number[] = []
  const a = brokerAuth(auth, { prefix: 'instore', storeId: 's1', aliases: new Map() }, counters, Date.now, async ms => {
    waits.push(ms)
  })
  const login = async (addr: string, user: string | undefined, pw: string | undefined) =>
    await new Promise<boolean>(resolve => {
      a.authenticate?.(client(addr), user as string, pw === undefined ? (undefined as unknown as Buffer) : Buffer.from(pw), (_err, ok) => resolve(ok === true))
    })
  return { counters, waits, login }
}

test('MQTT login: after many failures the right password is still accepted, after a delay', async () => {
  const s = setup()
  for (let i = 0; i < 6; i++) assert.equal(await s.login('10.0.0.9', 'b1', 'guess' + i), false)
  assert.equal(await s.login('10.0.0.9', 'b1', 'right-b1'), true, 'the owner is never locked out')
  assert.deepEqual(
    s.waits,
    [1, 2, 4, 8, 16, 32].map(k => k * LOGIN_DELAY_BASE_MS),
    'each answer waits twice as long as the last'
  )
  assert.equal(s.counters.failedLogins, 6)
  assert.equal(s.counters.rateLimited, 6)
})

test('MQTT login: failures count per username across addresses and per address across usernames', async () => {
  const cases: Array<{ name: string; fails: Array<[string, string]>; probe: [string, string]; delayed: boolean }> = [
    {
      name: 'same user, new address',
      fails: [
        ['10.0.0.1', 'b1'],
        ['10.0.0.2', 'b1']
      ],
      probe: ['10.0.0.3', 'b1'],
      delayed: true
    },
    {
      name: 'same address, new user',
      fails: [
        ['10.0.0.1', 'x1'],
        ['10.0.0.1', 'x2']
      ],
      probe: ['10.0.0.1', 'phone:d1'],
      delayed: true
    },
    { name: 'unrelated user and address', fails: [['10.0.0.1', 'x1']], probe: ['10.0.0.7', 'phone:d1'], delayed: false }
  ]
  for (const c of cases) {
    const s = setup()
    for (const [addr, user] of c.fails) await s.login(addr, user, 'wrong')
    const before = s.waits.length
    assert.equal(await s.login(c.probe[0], c.probe[1], c.probe[1] === 'b1' ? 'right-b1' : 'right-d1'), true, c.name)
    assert.equal(s.waits.length > before, c.delayed, c.name)
  }
})

test('MQTT login: the delay is capped, forgotten after a quiet spell, and cleared by the owner logging in', () => {
  let t = 0
  const th = new LoginThrottle(() => t)
  for (let i = 0; i < 40; i++) th.fail(['user:b1'])
  assert.equal(th.delayMs(['user:b1']), LOGIN_DELAY_MAX_MS)
  t += LOGIN_FORGET_MS
  assert.equal(th.delayMs(['user:b1']), 0)
  th.fail(['user:b1'])
  th.succeed('user:b1')
  assert.equal(th.delayMs(['user:b1']), 0)
})

test('MQTT login: an unknown username takes about as long to refuse as a known one with a wrong password', async () => {
  const s = setup()
  const time = async (user: string | undefined, i: number) => {
    const t0 = process.hrtime.bigint()
    // A fresh address and username each time: no delay is added, only the check itself is timed.
    await s.login(`10.1.0.${i}`, user === undefined ? undefined : user, 'wrong')
    return Number(process.hrtime.bigint() - t0) / 1e6
  }
  const known: number[] = []
  const unknown: number[] = []
  const phones: number[] = []
  for (let i = 0; i < 6; i++) {
    known.push(await time('b1', 3 * i))
    unknown.push(await time(`nobody${i}`, 3 * i + 1))
    phones.push(await time(`phone:ghost${i}`, 3 * i + 2))
  }
  const median = (v: number[]) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)]
  assert.ok(median(unknown) > median(known) / 3, `unknown ${median(unknown).toFixed(1)} ms vs known ${median(known).toFixed(1)} ms`)
  assert.ok(median(phones) > median(known) / 3, `unknown phone ${median(phones).toFixed(1)} ms vs known ${median(known).toFixed(1)} ms`)
})

// Repro (issue 25, hostile tester item 13): the delay was added to each answer, but parallel
// attempts were all evaluated at once with the same (zero) delay: 300 guesses in one delay.
test('MQTT login: parallel guesses for one username or from one address wait their turn, as if sequential', async () => {
  const cases: Array<{ name: string; attempt: (i: number) => [string, string] }> = [
    { name: 'one username, many addresses', attempt: i => [`10.2.0.${i}`, 'b1'] },
    { name: 'one address, many usernames', attempt: i => ['10.3.0.1', `user${i}`] }
  ]
  for (const c of cases) {
    const s = setup()
    const n = LOGIN_WAITING_MAX
    const answers = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const [addr, user] = c.attempt(i)
        return await s.login(addr, user, 'wrong')
      })
    )
    assert.deepEqual(answers, Array(n).fill(false), c.name)
    assert.deepEqual(
      s.waits,
      Array.from({ length: n - 1 }, (_, i) => Math.min(LOGIN_DELAY_MAX_MS, LOGIN_DELAY_BASE_MS * 2 ** i)),
      `${c.name}: each waits longer than the last`
    )
  }
})

test('MQTT login: a flood beyond the waiting cap is refused unevaluated; the owner, in turn, still gets in', async () => {
  const counters: AuthCounters = { failedLogins: 0, rateLimited: 0, deniedPublish: 0, deniedSubscribe: 0 }
  const gates: Array<() => void> = []
  // Each delay is held until the test lets it go: logins pile up behind the first.
  const a = brokerAuth(auth, { prefix: 'instore', storeId: 's1', aliases: new Map() }, counters, Date.now, async () => {
    await new Promise<void>(resolve => gates.push(resolve))
  })
  const login = async (addr: string, pw: string) =>
    await new Promise<boolean>(resolve => {
      a.authenticate?.(client(addr), 'b1', Buffer.from(pw), (_err, ok) => resolve(ok === true))
    })
  assert.equal(await login('10.4.0.1', 'wrong'), false)
  const queued = Array.from({ length: LOGIN_WAITING_MAX }, async (_, i) => await login(`10.4.1.${i}`, 'wrong'))
  assert.equal(await login('10.4.2.1', 'wrong'), false, 'over the cap: refused at once')
  assert.equal(counters.failedLogins, 2, 'the refused login was not evaluated')
  const release = setInterval(() => gates.shift()?.(), 1)
  try {
    assert.deepEqual(await Promise.all(queued), Array(LOGIN_WAITING_MAX).fill(false))
    assert.equal(counters.failedLogins, 2 + LOGIN_WAITING_MAX)
    assert.equal(await login('10.4.3.1', 'right-b1'), true, 'the right password is accepted once its turn comes')
  } finally {
    clearInterval(release)
  }
})

test("a stored session's client id is its username's until an hour after its connection closed, then free; a sensor's is its own, and it takes it back from a phone", async () => {
  let clock = 1_000_000
  const counters: AuthCounters = { failedLogins: 0, rateLimited: 0, deniedPublish: 0, deniedSubscribe: 0 }
  const a = brokerAuth(
    auth,
    { prefix: 'instore', storeId: 's1', aliases: new Map() },
    counters,
    () => clock,
    async () => {}
  )
  const conns: EventEmitter[] = []
  const login = async (user: string) =>
    await new Promise<boolean>(resolve => {
      const conn = Object.assign(new EventEmitter(), { remoteAddress: '10.0.0.1' })
      conns.push(conn)
      const c = { id: 'espresense-front-left', clean: false, conn } as unknown as Client
      a.authenticate?.(c, user, Buffer.from(`right-${user.replace('phone:', '')}`), (_err, ok) => resolve(ok === true))
    })
  // A reader's stored session holds the id against others for an hour after it closed.
  assert.equal(await login('r1'), true)
  conns[0].emit('close')
  const closed = clock
  const cases: Array<[string, string, number, boolean]> = [
    ['a phone a minute later: refused, the id is still the reader', 'phone:d1', 60_000, false],
    ['the phone 59 minutes later: refused', 'phone:d1', 59 * 60_000, false],
    ['the phone an hour and a minute later: the id is free', 'phone:d1', 61 * 60_000, true],
    // The phone holds it now (stored session, connected): a sensor takes it back at once.
    ['the sensor while the phone holds it', 'b1', 61 * 60_000, true],
    // And it stays the sensor's, connected or not, however long after.
    ['the phone again, the sensor connected', 'phone:d1', 62 * 60_000, false],
    ['the reader, the sensor connected', 'r1', 62 * 60_000, false]
  ]
  for (const [name, user, after, ok] of cases) {
    clock = closed + after
    assert.equal(await login(user), ok, name)
  }
  for (const c of conns) c.emit('close')
  clock += 10 * 86_400_000
  assert.equal(await login('phone:d1'), false, 'the phone ten days after the sensor left')
  assert.equal(await login('b1'), true, 'the sensor ten days after')
  assert.equal(counters.clientIdTaken, 5)
})

test("a sensor's client id passes to another sensor once its username left the auth config or it was away an hour; never to a phone", async () => {
  let clock = 1_000_000
  const h = (u: string) => hashPassword(`right-${u.replace('phone:', '')}`)
  const cases: Array<{ name: string; gone: boolean; after: number; user: string; ok: boolean }> = [
    { name: 'rotated credentials, old username still configured, a minute later: refused', gone: false, after: 60_000, user: 's2', ok: false },
    { name: 'old sensor away an hour: the new sensor takes the id', gone: false, after: 61 * 60_000, user: 's2', ok: true },
    { name: 'old username removed (reload), a minute later: the new sensor takes the id', gone: true, after: 60_000, user: 's2', ok: true },
    { name: 'old username removed: a phone still may not', gone: true, after: 60_000, user: 'phone:d1', ok: false },
    { name: 'old sensor away a day: a phone still may not', gone: false, after: 86_400_000, user: 'phone:d1', ok: false }
  ]
  for (const c of cases) {
    const sensors: Record<string, string> = { s1: h('s1'), s2: h('s2') }
    const live = { sensors, phones: { 'phone:d1': h('phone:d1') } }
    const counters: AuthCounters = { failedLogins: 0, rateLimited: 0, deniedPublish: 0, deniedSubscribe: 0 }
    const a = brokerAuth(
      live,
      { prefix: 'instore', storeId: 's1', aliases: new Map() },
      counters,
      () => clock,
      async () => {}
    )
    const login = async (user: string, conn: EventEmitter) =>
      await new Promise<boolean>(resolve => {
        const cl = { id: 'espresense-door', clean: false, conn: Object.assign(conn, { remoteAddress: '10.0.0.1' }) } as unknown as Client
        a.authenticate?.(cl, user, Buffer.from(`right-${user.replace('phone:', '')}`), (_err, ok) => resolve(ok === true))
      })
    const old = new EventEmitter()
    assert.equal(await login('s1', old), true, c.name)
    old.emit('close')
    if (c.gone) delete sensors.s1
    clock += c.after
    assert.equal(await login(c.user, new EventEmitter()), c.ok, c.name)
  }
})

test("a client id naming a sensor (its id or alias after a separator) is that sensor's: no other login takes or holds it, and it takes it back (the re-testers' repros)", async () => {
  const h = (u: string) => hashPassword(`right-${u.replace('phone:', '')}`)
  const a = brokerAuth(
    { sensors: { b1: h('b1'), b2: h('b2'), b3: h('b3') }, phones: { 'phone:p1': h('phone:p1') }, readers: { dash: h('dash') } },
    {
      prefix: 'instore',
      storeId: 's1',
      aliases: new Map([
        ['front-left', 'b1'],
        ['left', 'b3']
      ])
    },
    { failedLogins: 0, rateLimited: 0, deniedPublish: 0, deniedSubscribe: 0 },
    () => 1_000_000,
    async () => {}
  )
  const login = async (user: string, id: string, clean: boolean, conn = new EventEmitter()) =>
    await new Promise<boolean>(resolve => {
      const cl = { id, clean, conn: Object.assign(conn, { remoteAddress: '10.0.0.1' }) } as unknown as Client
      a.authenticate?.(cl, user, Buffer.from(`right-${user.replace('phone:', '')}`), (_err, ok) => resolve(ok === true))
    })
  const id = 'espresense-front-left'
  assert.equal(await login('b2', id, false), false, 'another sensor may not use it, even first')
  assert.equal(await login('b3', id, true), false, "a sensor whose alias is only the id's tail ('left') neither")
  assert.equal(await login('dash', id, false), false, 'nor a reader')
  assert.equal(await login('phone:p1', id, true), false, 'nor a phone')
  const b1 = new EventEmitter()
  assert.equal(await login('b1', id, false, b1), true, 'the named sensor')
  b1.emit('close')
  assert.equal(await login('b2', id, true), false, 'not while it is away either')
  assert.equal(await login('b1', id, true), true, 'it comes back')
  // An id naming no sensor: the first sensor reserves it, no other sensor takes it while the reservation stands.
  const first = new EventEmitter()
  assert.equal(await login('b2', 'board-7', true, first), true)
  first.emit('close')
  assert.equal(await login('b1', 'board-7', true), false, "another sensor, while b2's reservation stands (no ping-pong)")
  assert.equal(await login('dash', 'board-7', true), false, 'a reader neither')
})
