// The throughput benchmark measures what it says on a short trace: both sides count every
// reading, the gateway's latency and memory come back, and the plot is drawn. (Its first version
// counted the readings of a method the gateway no longer called, and printed NaN.)
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { makeTrace } from '../helpers/sim.ts'
import { ROOT } from '../helpers/run.ts'
import { throughputStory, traceRate } from '../../bench/throughput.ts'
import { throughputSvg } from '../../bench/throughput-plot.ts'
import { writeManyDevicesTrace } from '../../bench/many-devices.ts'

test('throughput bench: bare broker and gateway each count every reading; latency, memory and the plot come back', { timeout: 240_000 }, async () => {
  const { dir, trace } = await makeTrace('boutique', { durationS: 20 })
  const site = join(ROOT, 'sites/boutique.site.json')
  const many = join(dir, 'many.jsonl')
  await writeManyDevicesTrace(site, many, { devices: 50, seconds: 5, rotatingShare: 0.2, rotateS: 2, seed: 1 })
  const s = await throughputStory({ sitePath: site, trace, manyTrace: many, rounds: 1, shares: [], pinned: [false], log: () => {} })
  const { readings } = await traceRate(trace)
  assert.ok(readings > 1000, `only ${readings} readings in the trace`)
  assert.equal(s.readings, readings)
  for (const p of s.points) assert.equal(p.report.readings, readings, `${p.side} at ${p.offeredPerS}/s counted ${p.report.readings}`)
  const c = s.cores[0]
  assert.ok(c.ratio > 0 && Number.isFinite(c.ratio), `ratio ${c.ratio}`)
  for (const l of [c.full, c.half]) {
    assert.ok(typeof l.p50Ms === 'number' && typeof l.p99Ms === 'number' && l.p50Ms <= l.p99Ms, JSON.stringify(l))
    assert.ok(typeof l.delayP99Ms === 'number' && l.delayP99Ms <= l.p99Ms, JSON.stringify(l))
    // The own delay's parts (issue 28): each there, none more than the whole, and the ticks' stages timed.
    const p = l.parts
    // What the latency cannot see comes only from a paced replay (the half rate), whose schedule is known.
    const paced = l === c.half
    for (const [part, v] of Object.entries(p)) {
      const known = paced || !/^(unseen|scheduled)/.test(part)
      assert.ok(known ? typeof v === 'number' && v >= 0 : v === null, `${part}: ${JSON.stringify(p)}`)
    }
    if (paced) assert.ok((p.scheduledLatencyP99Ms ?? 0) >= (l.p99Ms ?? Infinity) - 1e-9, JSON.stringify(l))
    assert.ok((p.behindP50Ms ?? Infinity) <= (l.delayP99Ms ?? 0) && (p.fixesP50Ms ?? Infinity) <= (l.delayP99Ms ?? 0), JSON.stringify(l))
  }
  // Half the best rate is offered, and taken.
  assert.ok(Math.abs(c.half.offeredPerS - c.gatewayReadingsPerS / 2) < 1e-6 * c.gatewayReadingsPerS)
  assert.ok(c.memory.devices > 0 && c.memory.manyDevices >= 50, JSON.stringify(c.memory))
  assert.ok(c.memory.peakRssMiB > 0 && c.gc.count >= 0)
  const svg = throughputSvg(s)
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  assert.ok((svg.match(/<polyline /g) ?? []).length >= 3, 'lines for throughput and latency')
  assert.doesNotMatch(svg, /NaN|Infinity|undefined/)
})
