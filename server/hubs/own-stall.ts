// Replies that judge their own stalls: an SSE stream (its queue and streamStallMs, sse.ts) and a
// config reply (reply-stall.ts). The connection cap's general cut of stalled replies leaves them
// alone (connection-cap.ts). Here, where both the hubs and the server may import it.
import type { ServerResponse } from 'node:http'

const ownRule = new WeakSet<ServerResponse>()

/** Marks `res` as judging its own stalls. */
export function ownStallRule(res: ServerResponse): void {
  ownRule.add(res)
}

export function hasOwnStallRule(res: ServerResponse): boolean {
  return ownRule.has(res)
}
