// The live dashboard's script, served as a file so the page's Content-Security-Policy can refuse
// every inline script. No HTML is ever built from data: text goes in text nodes, SVG is built
// with createElementNS and its attributes are numbers checked here, whatever the server sent.
const $ = id => document.getElementById(id)
const params = new URLSearchParams(location.hash.slice(1))
// A link's token is taken only when none is saved: a link someone sent must never silently switch
// the operator to another identity (theirs, watching what this operator does). To switch, paste it.
{
  const saved = localStorage.getItem('instoreToken'); const linked = params.get('token')
  $('token').value = saved || linked || ''
  if (saved && linked && linked !== saved) $('status').textContent = 'the link carries another token: ignored (paste it in the token field to switch)'
  if (linked !== null) { params.delete('token'); history.replaceState(null, '', `${location.pathname}${location.search}${params.size > 0 ? '#' + params : ''}`) }
}
const token = () => $('token').value.trim()
const api = async (path, opts = {}) => {
  const res = await fetch(path, { ...opts, headers: { authorization: 'Bearer ' + token(), 'content-type': 'application/json', ...(opts.headers ?? {}) } })
  const body = res.status === 204 ? null : await res.json()
  if (!res.ok) throw new Error(body?.message ?? res.statusText)
  return body
}
// A listing comes in pages (X-Next-Cursor names the last id of a page that has a next one); the
// store menu follows them, up to a bound so a huge chain cannot keep the page loading for ever.
const apiAll = async (path, maxPages = 50) => {
  const all = []; let after = null
  for (let i = 0; i < maxPages; i++) {
    const res = await fetch(after === null ? path : `${path}?after=${encodeURIComponent(after)}`, { headers: { authorization: 'Bearer ' + token() } })
    const body = await res.json()
    if (!res.ok) throw new Error(body?.message ?? res.statusText)
    all.push(...body)
    after = res.headers.get('x-next-cursor')
    if (after === null) break
  }
  return all
}
let site = null; let live = null; let storeId = null
// Multi-floor sites: the map shows one floor at a time (features and dots on it); counts cover all.
let floor = 0; let lastSnapshot = null
const floorOf = f => f.properties.floor ?? 0
const footfall = []
const NS = 'http://www.w3.org/2000/svg'
/** A finite number or the fallback: what goes into an SVG attribute is never a string from data. */
const num = (v, fallback = 0) => typeof v === 'number' && Number.isFinite(v) ? v : fallback
/** Largest and smallest of a list, without spreading it into arguments (a huge list would overflow the stack). */
const maxOf = (list, floor = -Infinity) => list.reduce((a, b) => b > a ? b : a, floor)
const minOf = list => list.reduce((a, b) => b < a ? b : a, Infinity)
// What one message may draw: a hostile or broken gateway must not freeze an operator's page.
const MAX_DOTS = 2000; const MAX_ZONES = 500; const MAX_BARS = 50
const el = (tag, attrs, parent) => { const e = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v)); parent?.appendChild(e); return e }
const h = (tag, text, className) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (className) e.className = className; return e }
const options = (select, items) => select.replaceChildren(...items.map(([value, label]) => new Option(String(label), String(value))))

async function loadStores () {
  localStorage.setItem('instoreToken', token())
  const stores = await apiAll('/v1/stores')
  options($('store'), stores.map(s => [s.storeId, s.name]))
  // No store to show: say so, rather than ask for store '' and show the server's refusal of it.
  if (stores.length === 0) {
    live?.abort(); storeId = null; site = null; lastSnapshot = null
    $('map').replaceChildren()
    $('status').textContent = 'no store yet: this token sees no store (an admin adds one with POST /v1/stores and its site file)'
    return
  }
  const want = params.get('store')
  if (want && stores.some(s => s.storeId === want)) $('store').value = want
  await selectStore($('store').value)
}

async function selectStore (id) {
  storeId = id
  site = await api(`/v1/stores/${encodeURIComponent(id)}/site`)
  const floors = [...new Set(site.features.map(f => num(floorOf(f))))].sort((a, b) => a - b)
  floor = floors[0]; lastSnapshot = null
  options($('floor'), floors.map(n => [n, n]))
  $('floor').hidden = floors.length < 2
  drawSite()
  follow(id)
  options($('campaign').sector, site.features.filter(f => f.properties.kind === 'sector').map(f => [f.properties.id, f.properties.id]))
  lastRefresh = Date.now()
  refreshAnalytics()
}

// The store's live stream, read with fetch so that the token goes in the Authorization header:
// EventSource can only put it in the URL, where every proxy's access log would keep it.
const LIVE_HANDLERS = { snapshot: data => drawSnapshot(JSON.parse(data)), event: data => addEvent(JSON.parse(data)) }
function follow (id) {
  live?.abort()
  const ac = new AbortController(); live = ac
  void (async () => {
    let delay = 1000
    while (!ac.signal.aborted) {
      try {
        const res = await fetch(`/v1/stores/${encodeURIComponent(id)}/live`, { headers: { authorization: 'Bearer ' + token(), accept: 'text/event-stream' }, signal: ac.signal })
        if (res.status === 401 || res.status === 403 || res.status === 404) { $('status').textContent = (await res.json().catch(() => null))?.message ?? res.statusText; return }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`)
        $('status').textContent = 'live'; delay = 1000
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
        let buf = ''
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          buf += value
          for (let at = buf.indexOf('\n\n'); at >= 0; at = buf.indexOf('\n\n')) {
            const lines = buf.slice(0, at).split('\n'); buf = buf.slice(at + 2)
            const type = lines.find(l => l.startsWith('event:'))?.slice(6).trim() ?? 'message'
            const data = lines.filter(l => l.startsWith('data:')).map(l => l.slice(5).replace(/^ /, '')).join('\n')
            if (data !== '' && Object.hasOwn(LIVE_HANDLERS, type)) { try { LIVE_HANDLERS[type](data) } catch { /* one bad message never stops the stream */ } }
          }
        }
      } catch { if (ac.signal.aborted) return }
      $('status').textContent = 'reconnecting…'
      await new Promise(resolve => setTimeout(resolve, delay)); delay = Math.min(30_000, delay * 2)
    }
  })()
}

function drawSite () {
  const svg = $('map'); svg.replaceChildren()
  const xs = []; const ys = []
  for (const f of site.features) {
    const pts = f.geometry.type === 'Point' ? [f.geometry.coordinates] : f.geometry.coordinates[0]
    for (const [x, y] of pts) { xs.push(num(x)); ys.push(num(y)) }
  }
  const [x0, x1, y0, y1] = [minOf(xs) - 6, maxOf(xs) + 6, minOf(ys) - 6, maxOf(ys) + 2]
  svg.setAttribute('viewBox', `${x0} ${-y1} ${x1 - x0} ${y1 - y0}`)
  const g = el('g', { transform: 'scale(1,-1)', id: 'world' }, svg)
  for (const f of site.features) {
    const p = f.properties
    if (num(floorOf(f)) !== floor) continue
    if (p.kind === 'shop' || p.kind === 'sector') {
      const d = 'M' + f.geometry.coordinates[0].map(([x, y]) => `${num(x)},${num(y)}`).join('L') + 'Z'
      el('path', { d, id: `${p.kind}-${p.id}`, fill: p.kind === 'shop' ? '#131c26' : 'rgba(76,194,255,0.06)', stroke: p.kind === 'shop' ? '#3b4b5e' : '#2c5d7a', 'stroke-width': p.kind === 'shop' ? 0.25 : 0.12 }, g)
      if (p.kind === 'sector') {
        const c = f.geometry.coordinates[0]
        const t = el('text', { x: num(c[0][0]) + 0.3, y: -(maxOf(c.map(q => num(q[1]))) - 0.8), transform: 'scale(1,-1)' }, g)
        t.textContent = String(p.name ?? p.id)
      }
    } else if (p.kind === 'sensor') {
      const [x, y] = f.geometry.coordinates.map(v => num(v))
      el('rect', { x: x - 0.25, y: y - 0.25, width: 0.5, height: 0.5, fill: '#6e7f91' }, g)
    }
  }
  el('g', { id: 'dotsLayer' }, g)
}

function drawSnapshot (s) {
  lastSnapshot = s
  const layer = document.getElementById('dotsLayer'); if (!layer) return
  layer.replaceChildren()
  const positions = Array.isArray(s.positions) ? s.positions : []
  for (const p of positions.slice(0, MAX_DOTS)) {
    if (num(p.floor) !== floor) continue
    const wifi = p.source === 'wifi'
    const cx = num(p.x); const cy = num(p.y)
    el('circle', { cx, cy, r: Math.min(num(p.accuracyM, 1), 8), fill: wifi ? 'rgba(255,122,89,0.08)' : 'rgba(76,194,255,0.10)' }, layer)
    el('circle', { class: 'dot', cx, cy, r: 0.35, fill: wifi ? '#ff7a59' : '#4cc2ff' }, layer)
  }
  const occ = s.occupancy
  if (occ) {
    const sectors = Object.entries(occ.sectors ?? {}).slice(0, MAX_ZONES).map(([id, n]) => [id, num(n)])
    const max = maxOf(sectors.map(([, n]) => n), 1)
    for (const [id, n] of sectors) {
      const path = document.getElementById(`sector-${id}`)
      if (path) path.setAttribute('fill', `rgba(255,122,89,${(0.05 + 0.45 * n / max).toFixed(3)})`)
    }
    // People now, from every source (app, anonymous BLE, Wi-Fi), and its range where the gateway gives one.
    // Only the site's own shops count, each at least 0; a range that does not hold the count is not shown.
    const shops = new Set((site?.features ?? []).filter(f => f.properties?.kind === 'shop').map(f => f.properties.id))
    const people = counts => Object.entries(counts?.shops ?? {}).filter(([id]) => shops.has(id)).slice(0, MAX_ZONES).reduce((a, [, b]) => a + Math.max(0, num(b)), 0)
    const n = people(occ)
    $('inStore').textContent = n
    const low = occ.low ? people(occ.low) : null; const high = occ.high ? people(occ.high) : null
    $('inStoreRange').textContent = low !== null && high !== null && low <= n && n <= high ? `(${low}–${high})` : ''
    $('passers').textContent = Math.max(0, num(occ.passersBy))
  }
  $('dots').textContent = positions.length
  if (s.footfall) {
    $('ffWifi').textContent = num(s.footfall.wifiDevices)
    // Visitors today: fixtures and passers-by left out (a gateway too old to count them sends none).
    $('visitorsToday').textContent = typeof s.footfall.visitors === 'number' && Number.isFinite(s.footfall.visitors) && s.footfall.visitors >= 0 ? s.footfall.visitors : '–'
    footfall.push({ ts: num(s.ts), wifi: num(s.footfall.wifiDevices), ble: num(s.footfall.bleDevices) })
    if (footfall.length > 600) footfall.shift()
    drawFootfall()
  }
}

function drawFootfall () {
  const svg = $('footfall'); svg.replaceChildren()
  if (footfall.length < 2) return
  const max = maxOf(footfall.map(f => Math.max(f.wifi, f.ble)), 1)
  for (const [key, colour] of [['wifi', '#ff7a59'], ['ble', '#4cc2ff']]) {
    const pts = footfall.map((f, i) => `${(300 * i / (footfall.length - 1)).toFixed(1)},${(95 - 90 * f[key] / max).toFixed(1)}`).join(' ')
    el('polyline', { points: pts, fill: 'none', stroke: colour, 'stroke-width': 2 }, svg)
  }
}

function addEvent (e) {
  const where = e.sector ?? e.shop ?? ''
  const extra = e.type === 'trigger.fired' ? ` → ${e.content?.title ?? ''}` : e.dwellMs ? ` ${(num(e.dwellMs) / 1000).toFixed(0)} s` : e.frequency ? ` (${e.frequency.segment})` : ''
  const div = h('div', `${new Date(num(e.ts)).toLocaleTimeString()} ${e.type} ${String(e.subject ?? '').slice(0, 14)} ${where}${extra}`, e.type === 'trigger.fired' ? 'hot' : undefined)
  $('feed').prepend(div)
  while ($('feed').childElementCount > 200) $('feed').lastChild.remove()
  if (e.type === 'trigger.fired' || e.type === 'visit.summary') refreshSoon()
}

// Analytics are refreshed at most once per REFRESH_MS, after the last of a burst (trailing): a
// gateway posting a thousand visit.summary events must not make each open page send a thousand requests.
const REFRESH_MS = 5000
let lastRefresh = 0; let refreshTimer = null
function refreshSoon () {
  if (refreshTimer !== null) return
  refreshTimer = setTimeout(() => { refreshTimer = null; lastRefresh = Date.now(); refreshAnalytics() }, Math.max(0, lastRefresh + REFRESH_MS - Date.now()))
}

/** Horizontal bars, one per [label, value, shown value]. */
const bars = all => {
  const rows = all.slice(0, MAX_BARS)
  const max = maxOf(rows.map(r => num(r[1])), 1)
  return rows.map(([k, v, label]) => {
    const row = h('div', undefined, 'bar')
    const bar = h('i'); bar.style.width = `${150 * num(v) / max}px`
    row.append(h('em', k), bar, document.createTextNode(String(label ?? num(v))))
    return row
  })
}

async function refreshAnalytics () {
  if (!storeId) return
  try {
    const a = await api(`/v1/analytics/stores/${encodeURIComponent(storeId)}`)
    $('visits').textContent = num(a.visits.total)
    $('dwell').replaceChildren(...bars(Object.entries(a.dwell.sectors).map(([s, hist]) => [s, hist.slice(1).reduce((x, y) => x + num(y), 0)])))
    $('segments').replaceChildren(...bars(Object.entries(a.segments)))
    const funnel = a.funnel.slice(0, MAX_BARS).map(f => {
      const box = h('div')
      box.append(h('b', f.campaign ?? '(none)'), ...bars([['fired', f.fired], ['delivered', f.delivered], ['opened', f.opened], ['converted', f.converted]]))
      return box
    })
    $('funnel').replaceChildren(...(funnel.length > 0 ? funnel : [h('span', 'no triggers yet', 'muted')]))
  } catch (err) { $('status').textContent = err.message }
}
setInterval(refreshSoon, REFRESH_MS)

$('campaign').addEventListener('submit', async ev => {
  ev.preventDefault()
  const f = ev.target
  const body = {
    id: f.id.value, stores: [storeId],
    when: { event: f.event.value, sector: f.sector.value, ...(f.event.value === 'sector.dwell' ? { minDwellS: Number(f.minDwellS.value) } : {}) },
    cap: { perVisit: 1 },
    content: { title: f.title.value, ...(f.body.value ? { body: f.body.value } : {}), ttlMin: Number(f.ttlMin.value) }
  }
  try { await api('/v1/campaigns', { method: 'POST', body: JSON.stringify(body) }); $('formMsg').textContent = `Campaign ${body.id} created: gateways pick it up within seconds.` } catch (err) { $('formMsg').textContent = 'Refused: ' + err.message }
})
$('store').addEventListener('change', () => selectStore($('store').value))
$('floor').addEventListener('change', () => {
  floor = Number($('floor').value)
  drawSite()
  // Redraw what is known now; the footfall series must not take the same snapshot twice.
  if (lastSnapshot) drawSnapshot({ ...lastSnapshot, footfall: undefined })
})
$('token').addEventListener('change', () => loadStores().catch(err => { $('status').textContent = err.message }))
loadStores().catch(err => { $('status').textContent = err.message })
