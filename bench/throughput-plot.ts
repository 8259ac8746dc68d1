// The throughput benchmark's plot as a plain SVG (no dependency): readings taken against readings
// offered on the left, reading -> position latency (p50 and p99, log scale) on the right, one
// line per core setting; the bare broker's best rate as a dashed line. A replay "as fast as
// taken" is drawn at the rate it was taken at.
import type { ThroughputStory, LoadPoint } from './throughput.ts'

const W = 440
const H = 300
const M = { l: 64, r: 16, t: 34, b: 46 }
const COLOURS = { all: '#1f77b4', one: '#d62728' }

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
const k = (v: number) => (v >= 1000 ? `${Math.round(v / 1000)}k` : String(Math.round(v)))

/** Round tick values from 0 to at least `max`. */
function ticks(max: number): number[] {
  const step = 10 ** Math.floor(Math.log10(max / 4))
  const nice = [1, 2, 5, 10].map(f => f * step).find(s => max / s <= 6) ?? step * 10
  const out: number[] = []
  for (let v = 0; v <= max + nice * 0.01; v += nice) out.push(v)
  if (out[out.length - 1] < max) out.push(out[out.length - 1] + nice)
  return out
}

function offered(p: LoadPoint): number {
  return Number.isFinite(p.offeredPerS) ? p.offeredPerS : p.takenPerS
}

function panel(x0: number, title: string, xMax: number, yTicks: number[], y: (v: number) => number, yLabel: (v: number) => string, body: string): string {
  const xs = ticks(xMax)
  const xTop = xs[xs.length - 1]
  const px = (v: number) => x0 + M.l + ((W - M.l - M.r) * v) / xTop
  const parts = [`<text x="${x0 + M.l}" y="20" font-weight="bold">${esc(title)}</text>`]
  for (const v of xs)
    parts.push(`<line x1="${px(v)}" x2="${px(v)}" y1="${M.t}" y2="${H - M.b}" stroke="#eee"/><text x="${px(v)}" y="${H - M.b + 16}" text-anchor="middle">${k(v)}</text>`)
  for (const v of yTicks)
    parts.push(
      `<line x1="${x0 + M.l}" x2="${x0 + W - M.r}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/><text x="${x0 + M.l - 6}" y="${y(v) + 4}" text-anchor="end">${yLabel(v)}</text>`
    )
  parts.push(`<rect x="${x0 + M.l}" y="${M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}" fill="none" stroke="#888"/>`)
  parts.push(`<text x="${x0 + (W + M.l - M.r) / 2}" y="${H - 8}" text-anchor="middle">readings offered per second</text>`)
  return parts.join('\n') + '\n' + body.replace(/X\(([-\d.e+]+)\)/g, (_, v: string) => String(px(Number(v))))
}

/** The SVG text of the plot. */
export function throughputSvg(s: ThroughputStory): string {
  const gw = s.points.filter(p => p.side === 'gateway')
  // Offered load along x as far as the gateway was offered; taken readings up to the bare broker's rate.
  const xMax = Math.max(...gw.map(offered))
  const yMax = Math.max(xMax, ...s.cores.map(c => c.bareReadingsPerS))
  const series = [false, true].map(pinned => ({
    pinned,
    colour: pinned ? COLOURS.one : COLOURS.all,
    name: pinned ? 'one core' : 'all cores',
    pts: gw.filter(p => p.pinned === pinned).sort((a, b) => offered(a) - offered(b))
  }))
  const plotH = H - M.t - M.b
  // Left: taken against offered.
  const yt = ticks(yMax)
  const yTop = yt[yt.length - 1]
  const yl = (v: number) => M.t + plotH * (1 - v / yTop)
  const xTop = ticks(xMax)[ticks(xMax).length - 1]
  let left = `<line x1="X(0)" y1="${yl(0)}" x2="X(${xTop})" y2="${yl(xTop)}" stroke="#bbb" stroke-dasharray="2 3"/>\n`
  for (const c of s.cores) {
    const colour = c.pinned ? COLOURS.one : COLOURS.all
    left += `<line x1="X(0)" x2="X(${xTop})" y1="${yl(c.bareReadingsPerS)}" y2="${yl(c.bareReadingsPerS)}" stroke="${colour}" stroke-dasharray="6 4"/>\n`
  }
  for (const se of series) {
    if (se.pts.length === 0) continue
    left += `<polyline fill="none" stroke="${se.colour}" stroke-width="2" points="${se.pts.map(p => `X(${offered(p)}),${yl(p.takenPerS)}`).join(' ')}"/>\n`
    for (const p of se.pts) left += `<circle cx="X(${offered(p)})" cy="${yl(p.takenPerS)}" r="3" fill="${se.colour}"/>\n`
  }
  // Right: latency, log scale from 1 ms.
  const lat = gw.flatMap(p => [p.report.delayP50Ms ?? NaN, p.report.latencyP99Ms ?? NaN]).filter(Number.isFinite)
  const lTop = 10 ** Math.ceil(Math.log10(Math.max(10, ...lat)))
  const ly = (v: number) => M.t + plotH * (1 - Math.log10(Math.max(1, v)) / Math.log10(lTop))
  const lTicks: number[] = []
  for (let v = 1; v <= lTop; v *= 10) lTicks.push(v)
  let right = ''
  for (const se of series) {
    for (const [q, dash] of [
      ['delayP50Ms', ''],
      ['delayP99Ms', ' stroke-dasharray="5 3"'],
      ['latencyP99Ms', ' stroke-dasharray="1 3" stroke-opacity="0.6"']
    ] as const) {
      const pts = se.pts.filter(p => typeof p.report[q] === 'number')
      if (pts.length === 0) continue
      right += `<polyline fill="none" stroke="${se.colour}" stroke-width="2"${dash} points="${pts.map(p => `X(${offered(p)}),${ly(p.report[q] ?? NaN)}`).join(' ')}"/>\n`
    }
  }
  const legend =
    series
      .map(
        (se, i) =>
          `<line x1="${M.l + 10}" x2="${M.l + 34}" y1="${H + 14 + 16 * i}" y2="${H + 14 + 16 * i}" stroke="${se.colour}" stroke-width="2"/><text x="${M.l + 40}" y="${H + 18 + 16 * i}">gateway, ${se.name} (dashed level: bare broker, ${se.name})</text>`
      )
      .join('\n') +
    `\n<text x="${W + M.l + 10}" y="${H + 18}">the gateway's own delay: p50 solid, p99 dashed</text>` +
    `\n<text x="${W + M.l + 10}" y="${H + 34}">dotted: p99 with the event clock's 500 ms wait</text>`
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 50}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
${panel(0, 'readings taken per second', xMax, yt, yl, k, left)}
${panel(W, 'reading → position, ms (log scale)', xMax, lTicks, ly, v => String(v), right)}
${legend}
</svg>
`
}
