// A limit on the size of one MQTT packet at the embedded broker. aedes (1.x) has no such option:
// its parser buffers a packet whole, whatever the remaining length in its fixed header claims, so
// one client announcing 200 MB makes the broker hold 200 MB before anything can look at it. The
// guard reads each packet's fixed header (MQTT 3.1.1 §2.2) as aedes reads the socket and closes
// the connection as soon as a header announces more than the limit: nothing past the announcing
// chunk is ever read.
import type { Duplex } from 'node:stream'

/** What the guard knows between chunks: where the next fixed header starts. */
interface HeaderState {
  /** Bytes of the current packet's body still to come (0: the next byte starts a header). */
  skip: number
  /** The fixed header read so far (first byte, then the remaining-length bytes). */
  header: number[]
}

/**
 * Follows the packet boundaries through `chunk`; returns the first remaining length over
 * `maxBytes`, or null when every packet begun so far fits.
 */
export function oversizedPacket(state: HeaderState, chunk: Uint8Array, maxBytes: number): number | null {
  let i = 0
  while (i < chunk.length) {
    if (state.skip > 0) {
      const n = Math.min(state.skip, chunk.length - i)
      state.skip -= n
      i += n
      continue
    }
    state.header.push(chunk[i++])
    if (state.header.length === 1) continue
    const b = state.header[state.header.length - 1]
    // Remaining length: up to four bytes, seven bits each, least significant first.
    if ((b & 0x80) !== 0 && state.header.length < 5) continue
    let len = 0
    for (let k = state.header.length - 1; k >= 1; k--) len = len * 128 + (state.header[k] & 0x7f)
    state.header = []
    if (len > maxBytes) return len
    state.skip = len
  }
  return null
}

/**
 * Watches what aedes reads from `conn` (a 'data' listener beside aedes' 'readable' one sees each
 * chunk as `read()` returns it, before aedes parses it) and destroys the connection at the first
 * packet announcing more than `maxBytes`. `refused` is told the announced length (counted).
 */
export function guardPacketSize(conn: Duplex, maxBytes: number, refused: (announced: number) => void): void {
  const state: HeaderState = { skip: 0, header: [] }
  const watch = (chunk: Buffer | string): void => {
    if (typeof chunk === 'string') return
    const over = oversizedPacket(state, chunk, maxBytes)
    if (over === null) return
    conn.off('data', watch)
    refused(over)
    conn.destroy()
  }
  conn.on('data', watch)
}
