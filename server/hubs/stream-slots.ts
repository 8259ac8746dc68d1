// How many trigger streams each device, and each token, holds open on this replica. A phone needs
// one (two while it reconnects); every stream costs a connection, memory and a share of each of
// its device's wake-ups, so a script holding thousands open for one token is refused, not served.
// Counted per replica: a load balancer spreads one client's streams over few replicas.

export interface StreamLimits {
  /** Streams of one device open at once. */
  perDevice: number
  /** Streams opened with one token at once (an admin's token may open several devices' streams). */
  perToken: number
}
export const DEFAULT_STREAM_LIMITS: Readonly<StreamLimits> = Object.freeze({ perDevice: 4, perToken: 4 })

/** Whose count was full. */
export type StreamRefusal = 'device' | 'token'

/** A place among a device's streams, held from before the stream is opened until it ends. */
export interface StreamSlot {
  release(): void
}

export class StreamSlots {
  private readonly byDevice = new Map<string, number>()
  private readonly byToken = new Map<string, number>()
  /** Streams refused, by whose count was full (instore_server_streams_refused_total). */
  readonly refused: Record<StreamRefusal, number> = { device: 0, token: 0 }

  constructor(private readonly limits: Readonly<StreamLimits>) {}

  /**
   * A place for one more stream of `deviceId` held by `tokenId` (when a token opens it), taken at
   * once, before anything is awaited, so that streams opened together are counted together.
   */
  reserve(deviceId: string, tokenId: string | undefined): StreamSlot | StreamRefusal {
    const refusal: StreamRefusal | null =
      (this.byDevice.get(deviceId) ?? 0) >= this.limits.perDevice ? 'device' : tokenId !== undefined && (this.byToken.get(tokenId) ?? 0) >= this.limits.perToken ? 'token' : null
    if (refusal) {
      this.refused[refusal]++
      return refusal
    }
    bump(this.byDevice, deviceId, 1)
    if (tokenId !== undefined) bump(this.byToken, tokenId, 1)
    let held = true
    return {
      release: () => {
        if (!held) return
        held = false
        bump(this.byDevice, deviceId, -1)
        if (tokenId !== undefined) bump(this.byToken, tokenId, -1)
      }
    }
  }

  /** Streams held open here (every device). */
  get held(): number {
    let n = 0
    for (const v of this.byDevice.values()) n += v
    return n
  }
}

function bump(m: Map<string, number>, k: string, by: number): void {
  const n = (m.get(k) ?? 0) + by
  if (n > 0) m.set(k, n)
  else m.delete(k)
}
