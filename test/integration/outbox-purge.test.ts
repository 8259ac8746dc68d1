// Outside tester G (s8, report 4): the gateway's outbox was never emptied. Events the central
// server took stayed (sent = 1) for ever, also after a restart; standalone, every event stayed;
// events never delivered outlived --retention-days with their subjects. Now a delivered row goes
// as it is marked (nothing reads it again: unsent() and unpublished() look past it), rows and dead
// letters past retention go with the visits, and those never delivered are counted. Real SQLite
// files, and a whole standalone gateway over its real broker.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import mqtt from 'mqtt'
import { GatewayStore } from '../../gateway/io/store.ts'
import { startGateway, waitFor, metricValue } from '../helpers/gateway.ts'

const DAY = 86_400_000
const T = 1764000000000
const rows = (dir: string) => {
  const db = new Database(join(dir, 'gateway.sqlite'), { readonly: true })
  const r = db.prepare('SELECT id, published, sent FROM outbox ORDER BY seq').all() as Array<{ id: string; published: number; sent: number }>
  const dead = (db.prepare('SELECT COUNT(*) AS n FROM dead_letters').get() as { n: number }).n
  db.close()
  return { ids: r.map(x => x.id), dead }
}
const add = (s: GatewayStore, id: string, ts: number) => s.addEvent(id, 'shop.enter', ts, JSON.stringify({ id, subject: 'h:0123456789abcdef', ts }))

const LONG_AGO = T - 400 * DAY

test('with a central server: a row goes once published and taken (or set aside), past the hour kept for a look; also after a restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'outbox-purge-'))
  const s = new GatewayStore(dir)
  for (const id of ['e1', 'e2', 'e3', 'e4']) add(s, id, T)
  const r = s.unsent()
  s.markSent(r[1].seq) // e1, e2 taken by the central server, not yet published on MQTT
  s.purgeVisits(LONG_AGO, T + 1)
  assert.deepEqual(rows(dir).ids, ['e1', 'e2', 'e3', 'e4'], 'none published yet')
  s.deadLetter(r[2], 422, 'refused', T)
  s.markPublished(r[3].seq)
  s.purgeVisits(LONG_AGO, T - 1)
  assert.deepEqual(rows(dir).ids, ['e1', 'e2', 'e3', 'e4'], 'delivered within the hour kept: still there')
  s.purgeVisits(LONG_AGO, T + 1)
  assert.deepEqual(rows(dir).ids, ['e4'], 'published and taken (or set aside): gone')
  assert.deepEqual(
    s.unsent().map(x => x.id),
    ['e4']
  )
  s.markSent(r[3].seq)
  s.close()
  const again = new GatewayStore(dir)
  again.purgeVisits(LONG_AGO, T + 1)
  again.close()
  assert.deepEqual(rows(dir).ids, [], 'after a restart')
  assert.equal(rows(dir).dead, 1, 'the dead letter is kept until the retention')
})

test('standalone: publishing is delivery; past retention the undelivered rows and dead letters go, counted', () => {
  const dir = mkdtempSync(join(tmpdir(), 'outbox-purge-'))
  const s = Object.assign(new GatewayStore(dir), { standalone: true })
  add(s, 'old', T - 2 * DAY)
  add(s, 'new', T)
  add(s, 'late', T)
  s.markPublished(s.unpublished()[1].seq)
  s.purgeVisits(LONG_AGO, T + 1)
  assert.deepEqual(rows(dir).ids, ['late'], 'published: delivered')
  const c = new GatewayStore(mkdtempSync(join(tmpdir(), 'outbox-purge-')))
  add(c, 'a', T - 3 * DAY)
  add(c, 'b', T - 3 * DAY)
  add(c, 'c', T)
  c.deadLetter(c.unsent()[1], 400, 'refused', T - 3 * DAY)
  c.purgeVisits(T - DAY)
  assert.equal(c.expiredEvents, 2)
  assert.deepEqual(
    c.unsent().map(x => x.id),
    ['c']
  )
  assert.equal(c.deadLetterCount(), 0)
  s.close()
  c.close()
})

test('a standalone gateway keeps no event it published past the hour', async () => {
  const g = await startGateway()
  const c = await mqtt.connectAsync(g.mqttUrl)
  // One shopper standing in the women sector (the tester's walker), heard by every sensor.
  const sensors: Record<string, [number, number]> = { b9: [10, 6], b8: [14.5, 6], b7: [5.5, 6], b6: [19, 11], b5: [10, 11], b4: [1, 11], b3: [19, 1], b2: [10, 1], b1: [1, 1] }
  const send = async (ts: number, id: string) => {
    for (const [sensor, [x, y]] of Object.entries(sensors)) {
      const rssi = Math.round(-59 - 20 * Math.log10(Math.hypot(4 - x, 8.5 - y) + 1) + ((ts / 1000) % 5) - 2)
      await c.publishAsync(`instore/boutique-1/sensors/${sensor}/readings`, JSON.stringify({ ts, readings: [{ t: 'ble', id, rssi }] }), { qos: 1 })
    }
  }
  let outbox: string[] = []
  try {
    for (let s = 0; s < 40; s++) await send(T + s * 1000, 'shopper-1')
    await waitFor(() => metricValue(g.metrics, 'instore_published_total', '{kind="event"}') > 0, 20_000, 'events published')
    // Hours later: the visit closes (its events published), and a later hour's purge takes them.
    for (const h of [2, 4]) for (let s = 0; s < 10; s++) await send(T + h * 3_600_000 + s * 1000, `shopper-${h}`)
    await waitFor(() => rows(g.o.dataDir).ids.length === 0, 20_000, 'published events purged')
  } finally {
    outbox = rows(g.o.dataDir).ids
    await c.endAsync()
    await g.stop()
  }
  assert.deepEqual(outbox, [])
})
