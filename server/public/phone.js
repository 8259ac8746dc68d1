// The demo phone page's script, served as a file so the page's Content-Security-Policy can refuse
// every inline script. Cards are built with DOM calls and text nodes only; a campaign's link is
// shown only when it is http(s) or an app's own scheme, never `javascript:` or `data:`.
import { InstoreClient } from '/sdk.js'
const p = new URLSearchParams(location.hash.slice(1))
const client = new InstoreClient({ baseUrl: location.origin, deviceId: p.get('deviceId'), token: p.get('token') })
document.getElementById('who').textContent = `device ${p.get('deviceId') ?? '(none: open the link printed by npm start)'}`
const key = 'lastEventId:' + p.get('deviceId')

const h = (tag, text, className) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (className) e.className = className; return e }
const button = (label, status) => { const b = h('button', label); b.dataset.s = status; return b }
/** The link a card may carry, or null. */
function safeLink (url) {
  if (typeof url !== 'string') return null
  try {
    const u = new URL(url)
    return ['http:', 'https:'].includes(u.protocol) || /^[a-z][a-z0-9+.-]*:$/.test(u.protocol) && !['javascript:', 'data:', 'vbscript:', 'file:', 'blob:'].includes(u.protocol) ? u.href : null
  } catch { return null }
}

const sub = client.triggers(async t => {
  document.getElementById('empty')?.remove()
  const card = h('div', undefined, 'card trigger')
  const title = h('h2', t.content?.title ?? 'Offer')
  const body = h('div', t.content?.body ?? '', 'body')
  const where = h('small', `${t.sector ?? t.shop ?? ''} · ${new Date(Number(t.ts)).toLocaleTimeString()}`)
  card.append(title, body)
  const href = safeLink(t.content?.url)
  if (href) { const a = h('a', 'See the offer'); a.href = href; a.rel = 'noopener noreferrer'; card.append(h('div'), a) }
  const actions = h('div')
  actions.append(button('Open', 'opened'), button('Redeem', 'converted'), button('Dismiss', 'dismissed'))
  card.append(where, actions)
  card.addEventListener('click', async e => { const s = e.target.dataset?.s; if (!s) return; await client.ack(t.triggerId, s); if (s !== 'opened') card.classList.add('done') })
  document.getElementById('triggers').prepend(card)
  localStorage.setItem(key, sub.lastEventId ?? '')
  await client.ack(t.triggerId, 'delivered')
}, { lastEventId: localStorage.getItem(key) || null, onError: e => { document.getElementById('who').textContent = e.message } })
