import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import Database from 'better-sqlite3'
import mqtt from 'mqtt'
import type { InstoreEvent } from '../../shared/events.ts'
import { makeTrace } from '../helpers/sim.ts'
import { binEntry, runBin, ROOT, START_TIMEOUT_MS } from '../helpers/run.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'
import { stopChild } from '../helpers/procs.ts'
import type { Gateway } from '../../gateway/gateway.ts'
import type { Pipeline } from '../../gateway/pipeline.ts'

async function startGatewayProcess(data: string, devices: string): Promise<{ child: ChildProcess; url: string; http: string }> {
  const child = spawn(
    process.execPath,
    [
      binEntry('instore-gateway'),
      '--site',
      join(ROOT, 'sites/boutique.site.json'),
      '--port',
      '0',
      '--http-port',
      '0',
      '--clock',
      'event',
      '--data',
      data,
      '--secret',
      'restart-test',
      '--campaigns',
      join(ROOT, 'examples/campaigns.boutique.json'),
      '--devices',
      devices
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] }
  )
  let out = ''
  child.stdout?.on('data', d => {
    out += d
  })
  await waitFor(() => /"gateway started"/.test(out), START_TIMEOUT_MS, 'gateway start')
  return { child, url: (/mqtt:\/\/[0-9.:]+/.exec(out) as RegExpExecArray)[0], http: (/http:\/\/[0-9.:]+/.exec(out) as RegExpExecArray)[0] }
}

async function eventsPublished(http: string): Promise<number> {
  const m = await (await fetch(`${http}/metrics`)).text()
  return Number(/instore_published_total\{kind="event"\} (\d+)/.exec(m)?.[1] ?? 0)
}

test('kill -9 and restart: open visits resume, no accepted event is lost, none is re-sent under a new id', async () => {
  const { dir, trace } = await makeTrace('boutique', { durationS: 900, seed: 3 })
  const lines = readFileSync(trace, 'utf8').trim().split('\n')
  const cut = Math.floor(lines.length / 2)
  writeFileSync(join(dir, 'part1.jsonl'), lines.slice(0, cut).join('\n') + '\n')
  writeFileSync(join(dir, 'part2.jsonl'), lines.slice(cut).join('\n') + '\n')
  const data = join(dir, 'data')
  const received: InstoreEvent[] = []
  let phase = 1
  const phaseOf = new Map<string, number>()
  const listen = async (url: string) => {
    const c = await mqtt.connectAsync(url)
    c.on('message', (_t, p) => {
      const e = JSON.parse(p.toString()) as InstoreEvent
      received.push(e)
      if (!phaseOf.has(e.id)) phaseOf.set(e.id, phase)
    })
    await c.subscribeAsync('instore/+/events/#', { qos: 1 })
    return c
  }

  const devices = join(dir, 'boutique.devices.json')
  const first = await startGatewayProcess(data, devices)
  const sub1 = await listen(first.url)
  const r1 = await runBin('instore-replay', ['--trace', join(dir, 'part1.jsonl'), '--devices', devices, '--broker', first.url])
  assert.equal(r1.code, 0, r1.stdout + r1.stderr)
  await waitFor(async () => (await eventsPublished(first.http)) > 0, 10_000, 'events before the crash')
  await sub1.endAsync()
  first.child.kill('SIGKILL')
  await once(first.child, 'exit')

  phase = 2
  const second = await startGatewayProcess(data, devices)
  const sub2 = await listen(second.url)
  const r2 = await runBin('instore-replay', ['--trace', join(dir, 'part2.jsonl'), '--devices', devices, '--broker', second.url])
  assert.equal(r2.code, 0, r2.stdout + r2.stderr)
  assert.equal(await stopChild(second.child, 'SIGTERM'), 0)
  await sub2.endAsync()

  const db = new Database(join(data, 'gateway.sqlite'), { readonly: true })
  const rows = db.prepare('SELECT id, type, body, published FROM outbox ORDER BY seq').all() as Array<{ id: string; type: string; body: string; published: number }>
  db.close()
  const events = rows.map(r => JSON.parse(r.body) as InstoreEvent)
  assert.ok(events.length > 20, `${events.length} events`)
  assert.ok(
    rows.every(r => r.published === 1),
    'every accepted event was published'
  )
  // Per subject: seq runs 1, 2, 3, … across the crash, and visits never open twice.
  const bySubject = new Map<string, InstoreEvent[]>()
  for (const e of events) bySubject.set(e.subject, [...(bySubject.get(e.subject) ?? []), e])
  for (const [subject, list] of bySubject) {
    assert.deepEqual(
      list.map(e => e.seq),
      list.map((_, i) => i + 1),
      `seq of ${subject}`
    )
    let open = false
    for (const e of list) {
      if (e.type === 'shop.enter') {
        assert.equal(open, false, `${subject}: a second shop.enter without an exit`)
        open = true
      }
      if (e.type === 'shop.exit') {
        assert.equal(open, true, `${subject}: shop.exit without an entry`)
        open = false
      }
    }
    assert.equal(open, false, `${subject}: visit left open at shutdown`)
  }
  // A visit that was open at the crash went on afterwards under the same visit id.
  const resumed = events.filter(
    e => e.type === 'shop.exit' && phaseOf.get(e.id) === 2 && events.some(x => x.type === 'shop.enter' && x.visitId === e.visitId && phaseOf.get(x.id) === 1)
  )
  assert.ok(resumed.length > 0, 'no visit spanned the crash')
  // What went out on MQTT carries the outbox ids: nothing re-sent under a new id.
  const ids = new Set(rows.map(r => r.id))
  const keys = new Map<string, string>()
  for (const e of received) {
    assert.ok(ids.has(e.id), `unknown id ${e.id}`)
    const k = `${e.subject}#${e.seq}`
    assert.ok(!keys.has(k) || keys.get(k) === e.id, `${k} re-sent under a new id`)
    keys.set(k, e.id)
  }
})

test('a live gateway keeps what it learned about the radio across a restart; a replay, or a changed sensor setup, starts from nothing', async t => {
  // Every gateway is stopped, also when an assertion fails half-way (a running one keeps the test alive).
  const running = new Set<Gateway>()
  const start = async (over: Parameters<typeof startGateway>[0], site?: string) => {
    const g = await startGateway(over, site)
    running.add(g)
    return g
  }
  const stop = async (g: Gateway) => {
    running.delete(g)
    await g.stop()
  }
  t.after(async () => {
    for (const g of running) await g.stop()
  })
  const { dir, trace, devices } = await makeTrace('boutique', { durationS: 300, seed: 4 })
  const data = join(dir, 'live')
  const first = await start({ clock: 'wall', dataDir: data, devices })
  const r = await runBin('instore-replay', ['--trace', trace, '--broker', first.mqttUrl])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  const pipeline = first.pipeline as Pipeline
  // On the wall clock the replayed readings are re-stamped as they arrive: a few ticks' worth of fixes.
  await waitFor(() => pipeline.learned().ble.siteOffsetFixes > 0 && Object.values(pipeline.corrections).some(c => c !== 0), 10_000, 'learning')
  await stop(first)
  const learned = pipeline.learned()
  assert.ok(Object.keys(learned.ble.sensitivityFloors).length > 0 && learned.calibrator.samples > 0, JSON.stringify(learned).slice(0, 200))

  const again = await start({ clock: 'wall', dataDir: data })
  assert.deepEqual(again.pipeline?.learned(), learned)
  assert.deepEqual(again.pipeline?.corrections, pipeline.corrections)
  await stop(again)

  const fresh = (g: Gateway) => {
    const l = (g.pipeline as Pipeline).learned()
    return l.calibrator.samples === 0 && l.ble.siteOffsetFixes === 0 && Object.keys(l.ble.sensitivityFloors).length === 0
  }
  const replay = await start({ clock: 'event', dataDir: data })
  assert.ok(fresh(replay), 'a replay depends on its trace alone')
  await stop(replay)
  // Sensor b1 moved: what was learned described the old setup.
  const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8')) as { features: Array<{ properties: { id: string }; geometry: { coordinates: number[] } }> }
  const b1 = site.features.find(f => f.properties.id === 'b1') as { geometry: { coordinates: number[] } }
  b1.geometry.coordinates = [b1.geometry.coordinates[0] + 1, b1.geometry.coordinates[1]]
  writeFileSync(join(dir, 'moved.site.json'), JSON.stringify(site))
  const moved = await start({ clock: 'wall', dataDir: data }, join(dir, 'moved.site.json'))
  assert.ok(fresh(moved), 'learning for another sensor setup is not taken up')
  await stop(moved)
})
