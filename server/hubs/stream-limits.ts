// The caps on SSE streams and what a refusal names: see stream-slots.ts.

export interface StreamLimits {
  /** Trigger streams of one device open at once. */
  streamsPerDevice: number
  /** Trigger streams opened with one token at once (an admin's token may open several devices' streams). */
  streamsPerToken: number
  /** Live dashboard streams opened with one token at once. */
  liveStreamsPerToken: number
  /** Live dashboard streams of one store open at once (every operator's together). */
  liveStreamsPerStore: number
  /**
   * Trigger streams open at once on this replica, whoever holds them: each is a socket, and a
   * process out of file descriptors refuses everyone. Beyond, 503 with Retry-After.
   */
  triggerStreamsPerReplica: number
  /**
   * Trigger streams open at once on this replica from one caller address: registration is
   * anonymous, so per device and per token caps alone let one address hold as many as it registers.
   * A shop's Wi-Fi or a carrier's NAT puts many phones behind one address: this is a crowd's worth.
   */
  triggerStreamsPerAddress: number
}
export const DEFAULT_STREAM_LIMITS: Readonly<StreamLimits> = Object.freeze({
  streamsPerDevice: 4,
  streamsPerToken: 4,
  liveStreamsPerToken: 8,
  liveStreamsPerStore: 64,
  triggerStreamsPerReplica: 4000,
  triggerStreamsPerAddress: 200
})
/** How long a lease outlives its replica's last renewal, ms: how long a killed replica's streams keep their places. */
export const DEFAULT_LEASE_MS = 30_000

/** What a stream is of: a device's triggers, a store's live dashboard. */
export type StreamKind = 'device' | 'live'
/** Whose count was full (instore_server_streams_refused_total's `limit`). */
export type StreamRefusal = 'device' | 'token' | 'live_token' | 'live_store' | 'replica' | 'address'

/** A place among the streams, held from before the stream is opened until it ends. */
export interface StreamSlot {
  release(): void
  /**
   * How to end this stream if its place is taken back: a trigger stream that is its device's
   * second (or later) at a full address gives its place to another device's first.
   */
  onEvict?(close: () => void): void
  /**
   * How to end this stream if its own device's new stream (same token) takes its place at the
   * device's cap: a phone whose path died (a network change) would otherwise be locked out by its
   * own dead streams for as long as their sockets last (TCP retries, up to ~15 min).
   */
  onReplaced?(end: () => void): void
}

export const REFUSAL: Record<StreamKind, { owner: StreamRefusal; token: StreamRefusal }> = {
  device: { owner: 'device', token: 'token' },
  live: { owner: 'live_store', token: 'live_token' }
}

const REFUSALS: ReadonlySet<string> = new Set<StreamRefusal>(['device', 'token', 'live_token', 'live_store', 'replica', 'address'])
export const isRefusal = (s: string): s is StreamRefusal => REFUSALS.has(s)

export function bump(m: Map<string, number>, k: string, by: number): void {
  const n = (m.get(k) ?? 0) + by
  if (n > 0) m.set(k, n)
  else m.delete(k)
}
