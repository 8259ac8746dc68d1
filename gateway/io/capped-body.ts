// Reading an HTTP answer without trusting its size: the central server (or whatever answers in its
// place: a proxy, a captive portal, an attacker on the path) may send a body of any length, even
// an endless one. `res.text()` and `res.json()` would hold all of it; this reads at most
// `maxBytes` and stops the download there.

/** The first `maxBytes` of a response's body, and whether there was more (not downloaded). */
export async function readCapped(res: Response, maxBytes: number): Promise<{ bytes: Buffer; over: boolean }> {
  const body = res.body
  if (body === null) return { bytes: Buffer.alloc(0), over: false }
  const reader = body.getReader()
  const parts: Uint8Array[] = []
  let n = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
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
