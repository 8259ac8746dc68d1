// Reading an HTTP answer without trusting its size: the central server (or whatever answers in its
// place: a proxy, a captive portal, an attacker on the path) may send a body of any length, even
// an endless one. `res.text()` and `res.json()` would hold all of it; this reads at most
// `maxBytes` and stops the download there.

/** The most of an events reply kept (the server's answers are a few KiB; more is not its answer). */
export const MAX_REPLY_BYTES = 2 ** 20
/** The largest config taken, bytes: far above a store's campaigns and registered devices. */
export const MAX_CONFIG_BYTES = 32 * 2 ** 20
/** The most of a live-snapshot answer read (nothing in it is used). */
export const MAX_LIVE_REPLY_BYTES = 64 * 1024

/** The first `maxBytes` of a response's body, and whether there was more (not downloaded). */
export async function readCapped(res: Response, maxBytes: number, onChunk: () => void = () => {}): Promise<{ bytes: Buffer; over: boolean }> {
  const body = res.body
  if (body === null) return { bytes: Buffer.alloc(0), over: false }
  const reader = body.getReader()
  const parts: Uint8Array[] = []
  let n = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      onChunk()
      if (done) return { bytes: Buffer.concat(parts, n), over: false }
      if (value.length > maxBytes - n) {
        parts.push(value.subarray(0, maxBytes - n))
        return { bytes: Buffer.concat(parts, maxBytes), over: true }
      }
      parts.push(value)
      n += value.length
    }
  } finally {
    // Ends the download (and frees the connection) however much is left.
    await reader.cancel().catch(() => {})
  }
}

/**
 * A signal for a request that may take long but must keep moving: it aborts when nothing arrived
 * for `stallMs` (call `progress()` at the answer's headers and at each piece of its body), or
 * after `wholeMs` in all whatever arrives (a server trickling forever). `done()` clears the timers.
 */
export function stallSignal(stallMs: number, wholeMs: number): { signal: AbortSignal; progress: () => void; done: () => void } {
  const stalled = new AbortController()
  const whole = new AbortController()
  const stall = () => stalled.abort(new DOMException(`no progress for ${stallMs} ms`, 'TimeoutError'))
  let timer = setTimeout(stall, stallMs)
  const all = setTimeout(() => whole.abort(new DOMException(`not done in ${wholeMs} ms`, 'TimeoutError')), wholeMs)
  return {
    signal: AbortSignal.any([stalled.signal, whole.signal]),
    progress: () => {
      clearTimeout(timer)
      timer = setTimeout(stall, stallMs)
    },
    done: () => {
      clearTimeout(timer)
      clearTimeout(all)
    }
  }
}
