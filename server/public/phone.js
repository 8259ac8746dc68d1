// The demo phone page's script, served as a file so the page's Content-Security-Policy can refuse
// every inline script. Cards are built with DOM calls and text nodes only; a campaign's link is
// shown only for an allowlisted scheme (https:, http:, app:), never `javascript:`, `data:` or another.
import { InstoreClient } from '/sdk.js'
const p = new URLSearchParams(location.hash.slice(1))
// The device token leaves the address bar and the history as soon as it is read (a shared screen,
// a synced history, a bookmark would keep it); the tab keeps it for reloads in sessionStorage.
const tokenKey = 'instoreDeviceToken:' + p.get('deviceId')
{
  const linked = p.get('token')
  if (linked !== null) {
    sessionStorage.setItem(tokenKey, linked)
    p.delete('token')
    history.replaceState(null, '', `${location.pathname}${location.search}${p.size > 0 ? '#' + p : ''}`)
  }
}
const client = new InstoreClient({ baseUrl: location.origin, deviceId: p.get('deviceId'), token: sessionStorage.getItem(tokenKey) })
document.getElementById('who').textContent = `device ${p.get('deviceId') ?? '(none: open the link printed by npm start)'}`
const key = 'lastEventId:' + p.get('deviceId')

const h = (tag, text, className) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (className) e.className = className; return e }
const button = (label, status) => { const b = h('button', label); b.dataset.s = status; return b }
/** Link schemes a card may open: the server's default allowlist (https:, http: and the demo's app:). */
const LINK_SCHEMES = ['https:', 'http:', 'app:']
/** The link a card may carry, or null: an allowlisted scheme, no control or bidirectional-override character. */
function safeLink (url) {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (typeof url !== 'string' || /[\u0000-\u0020\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(url)) return null
  try {
    const u = new URL(url)
    return LINK_SCHEMES.includes(u.protocol) ? u.href : null
  } catch { return null }
}

// The SDK runs a handler again when it fails (here: the 'delivered' ack did not get through), so
// the handler is idempotent: a trigger already shown is not shown again, only its ack is retried.
// Event ids are unique per store only, so a trigger is its store and id. A retry follows its first
// try closely, so only recent keys are kept (a Set iterates oldest first): the page may stay open all day.
const SHOWN_KEPT = 100
const shown = new Set()
client.triggers(async t => {
  const k = `${t.storeId ?? ''}/${t.triggerId}`
  if (!shown.has(k)) {
    shown.add(k)
    if (shown.size > SHOWN_KEPT) shown.delete(shown.values().next().value)
    show(t)
  }
  await client.ack(t.triggerId, 'delivered', t.storeId)
}, {
  lastEventId: localStorage.getItem(key) || null,
  // Saved once the SDK has moved past this trigger (inside the handler it still names the one before).
  onLastEventId: id => localStorage.setItem(key, id),
  onError: e => { document.getElementById('who').textContent = e.message }
})

/** Puts the trigger's card on the page. */
function show (t) {
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
  card.addEventListener('click', async e => { const s = e.target.dataset?.s; if (!s) return; await client.ack(t.triggerId, s, t.storeId); if (s !== 'opened') card.classList.add('done') })
  document.getElementById('triggers').prepend(card)
}
