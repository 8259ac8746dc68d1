// Tester s12 G, issue 3: log details were cut (100 or 200 characters) before MAC redaction, so an
// address across the cut was not recognised and 8-11 of its 12 digits reached the log. Real
// gateway, real broker over TCP, the tester's three topics, and an address written long enough
// (runs of separators) to straddle even the redactor's bounded head.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { createLogger } from '../../shared/log.ts'
import { ingest } from '../../gateway/ingest/ingest.ts'
import { logDetail, shownDetail, SubjectHasher } from '../../gateway/ingest/subjects.ts'
import { startGateway, waitFor } from '../helpers/gateway.ts'

const PIECE = /a4[^0-9a-f]{0,200}c1[^0-9a-f]{0,200}38/i

const TOPICS: Array<[string, string]> = [
  [`espresense/devices/phone/${'shelf-'.padEnd(90, 'x')}a4c1389f0e11`, JSON.stringify({ id: 'x', rssi: -50 })],
  [`home/${'omg-'.padEnd(88, 'y')}a4:c1:38:9f:0e:12/BTtoMQTT/aabbccddeeff`, JSON.stringify({ id: 'x', rssi: -50 })],
  [`home/${'omg-'.padEnd(20, 'y')}a4${':'.repeat(300)}c1:38:9f:0e:14/BTtoMQTT/aabbccddeeff`, JSON.stringify({ id: 'x', rssi: -50 })]
]

// One gateway each: the log keeps one line per drop reason a minute.
for (const [topic, payload] of TOPICS) {
  test(`an address across the cut of a log detail leaves no piece in the log: ${topic.slice(0, 12)}…${topic.slice(-24)}`, async () => {
    const lines: string[] = []
    const g = await startGateway({ log: createLogger({ write: l => void lines.push(l) }) })
    const c = await mqtt.connectAsync(g.mqttUrl)
    try {
      await c.publishAsync(topic, payload, { qos: 1 })
      await waitFor(() => lines.some(l => l.includes('"dropped"')), 10_000, 'the dropped line')
    } finally {
      await c.endAsync()
      await g.stop()
    }
    assert.deepEqual(
      lines.filter(l => PIECE.test(l)),
      []
    )
  })
}

test('logDetail redacts, then cuts, and drops a run of hex digits and separators the cut goes through', () => {
  assert.equal(logDetail(`${'x'.repeat(95)}a4c1389f0e11`, 100), `${'x'.repeat(95)}<mac>`)
  assert.equal(logDetail(`${'x'.repeat(98)}a4c1389f0e11`, 100), `${'x'.repeat(98)}<m`)
  assert.equal(logDetail(`${'x'.repeat(90)}a4${':'.repeat(500)}c1:38:9f:0e:14`, 100), 'x'.repeat(90))
  assert.equal(logDetail('short', 100), 'short')
})

// Reviewer s12: redaction shrinks the head (4 × max) below max, so the head's own end was shown, and
// with it the start of an address the rest of the text holds.
test('logDetail drops the run at the end of its bounded head when the text goes on past it', () => {
  const topic = `instore/aa${'/'.repeat(770)}bbccddeeff,x,4c:57:ca:12:34:56/readings`
  assert.equal(logDetail(topic, 200), 'instore/<mac>,x,')
  const text = `a1${'/'.repeat(775)}b2c3d4e5f6, de:ad:be:ef:00:11 tail`
  assert.equal(logDetail(text, 200), '<mac>,')
  // A text that ends within the head keeps its end.
  assert.equal(logDetail(`instore/aa${'/'.repeat(70)}bbccddeeff,x,4c:57`, 200), 'instore/<mac>,x,4c:57')
})

test("a native topic's detail (bad_topic, cut at 200) keeps no piece of an address across the cut", () => {
  const ctx = {
    prefix: 'instore',
    storeId: 's1',
    sensors: new Set(['r1']),
    beacons: new Set<string>(),
    hasher: new SubjectHasher('s'),
    maxBytes: 4096,
    identityTime: (ts: number | null) => ts ?? NaN
  }
  const r = ingest(`instore/${'q'.padEnd(184, 'q')}/a4c1389f0e13/x`, Buffer.from('x'), ctx)
  assert.equal(r.kind, 'rejected')
  if (r.kind === 'rejected') assert.equal(PIECE.test(shownDetail(r.detail)), false, shownDetail(r.detail))
})
