// Rate limits on what an app's token may write (consent grants, acknowledgements): anyone gets a
// device token without authentication, so each such request is counted per token and per caller
// address (many tokens behind one address), and consent grants per device, since each change
// takes a config version that every gateway's next delta carries. Counted in the database
// (DbRateStore, app.ts), so two replicas behind one load balancer share one count.
// Withdrawals and erasures are never counted against the shared budgets: a stranger behind the
// same address (shop Wi-Fi, carrier NAT) could otherwise spend them and hold a shopper's consent
// in place. A restated consent (no change) is counted per token, and per address in a budget of its
// own (the address's write budget again, RESTATEMENT_ADDRESS_FACTOR times): counted with the other
// writes, one client's loop would starve every other phone there; not counted per address, 120
// registrations a minute times 30 restatements each were all database work (reviewer, s12).
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { HttpError } from './auth.ts'
import { callerKey } from './caller-address.ts'

export interface DeviceLimits {
  /** Writes (consent grants and restatements, acknowledgements; never withdrawals nor erasure) per device token per window (429 INSTORE_RATE_LIMITED beyond). */
  deviceWritesPerToken: number
  /** Consent grants by device tokens per caller address per window (429 INSTORE_RATE_LIMITED beyond); acknowledgements of the callers' own triggers, and those naming none, have as many each in budgets of their own. */
  deviceWritesPerAddress: number
  /** Consent changes that grant something, per device per window (429 INSTORE_TOO_MANY_CONSENT_CHANGES beyond). */
  consentGrantsPerDevice: number
}

// A phone acknowledges a few triggers a visit and changes its consent rarely; a shop's Wi-Fi or a
// carrier's NAT puts many phones behind one address. Withdrawals are never counted against the
// grants: withdrawing consent must stay as easy as giving it, and each needs a grant before it.
export const DEFAULT_DEVICE_LIMITS: Readonly<DeviceLimits> = Object.freeze({
  deviceWritesPerToken: 30,
  deviceWritesPerAddress: 600,
  consentGrantsPerDevice: 6
})

export interface DeviceLimiter {
  /** A consent write that grants something: counted per token, per address and per device (the route's `:id`), refused past a limit. */
  grant: (req: FastifyRequest) => Promise<void>
  /** A consent write that changes nothing: counted per token, and per address in its own larger budget. */
  restated: (req: FastifyRequest) => Promise<void>
  /** onRequest hook of an acknowledgement: counted per token only, before the trigger is looked up. */
  ack: (req: FastifyRequest) => Promise<void>
  /** An acknowledgement that named one of the caller's triggers: counted per address, in the acknowledgements' own budget. */
  ackFound: (req: FastifyRequest) => Promise<void>
  /** An acknowledgement naming no trigger of the caller's device: counted per address, in a budget of its own. */
  ackUnknown: (req: FastifyRequest) => Promise<void>
}

/** A caller address's restatements per window, in writes per address: a shop's phones restating at each app start fit. */
export const RESTATEMENT_ADDRESS_FACTOR = 2

type Limiter = ReturnType<FastifyInstance['createRateLimit']>
type KeyOf = (req: FastifyRequest) => string

/** Keys over their limit this many at most are remembered on a replica (the oldest forgotten first). */
const MAX_REMEMBERED = 10_000

/**
 * One limit: counted in the database; a key found over it is remembered on this replica until its
 * window ends, so a flood's further requests are refused without another database write.
 */
function limit(app: FastifyInstance, max: number, windowMs: number, keyOf: KeyOf, code: string, what: string): (req: FastifyRequest) => Promise<void> {
  const limiter: Limiter = app.createRateLimit({ max, timeWindow: windowMs, keyGenerator: keyOf })
  const over = new Map<string, number>()
  const refuse = (untilMs: number, now: number) => {
    const s = Math.max(1, Math.ceil((untilMs - now) / 1000))
    return new HttpError(429, code, `${what}; retry in ${s} s`, { 'retry-after': String(s) })
  }
  return async req => {
    const key = keyOf(req)
    const now = Date.now()
    const until = over.get(key)
    if (until !== undefined && until > now) throw refuse(until, now)
    over.delete(key)
    const r = await limiter(req)
    if (r.isAllowed || !r.isExceeded) return
    if (over.size >= MAX_REMEMBERED) over.delete(over.keys().next().value as string)
    over.set(key, now + r.ttl)
    throw refuse(now + r.ttl, now)
  }
}

/** Needs @fastify/rate-limit registered on `app` (its store counts them). */
export function deviceLimiter(app: FastifyInstance, limits: DeviceLimits, windowMs: number): DeviceLimiter {
  // Every limiter made by createRateLimit shares one store prefix: the keys tell them apart.
  const perToken = limit(
    app,
    limits.deviceWritesPerToken,
    windowMs,
    req => `device-write|token|${req.principal?.tokenId}`,
    'INSTORE_RATE_LIMITED',
    'too many writes with this device token'
  )
  const perAddress = limit(
    app,
    limits.deviceWritesPerAddress,
    windowMs,
    req => `device-write|address|${callerKey(req.ip)}`,
    'INSTORE_RATE_LIMITED',
    'too many device writes from this address'
  )
  const perDevice = limit(
    app,
    limits.consentGrantsPerDevice,
    windowMs,
    req => `consent-grant|${(req.params as { id?: string }).id}`,
    'INSTORE_TOO_MANY_CONSENT_CHANGES',
    'this device has granted consent too often'
  )
  const restatedPerAddress = limit(
    app,
    limits.deviceWritesPerAddress * RESTATEMENT_ADDRESS_FACTOR,
    windowMs,
    req => `consent-restated|address|${callerKey(req.ip)}`,
    'INSTORE_RATE_LIMITED',
    'too many restated consents from this address'
  )
  // Acknowledgements per address in two budgets of their own, never the grants' one: acks of
  // triggers that do not exist cost nothing but a lookup and answer 404, yet counted with the
  // other writes a stranger's 600 of them refused every other shopper's real acks and consent
  // grants behind the same address for the rest of the window (tester, s13).
  const acksPerAddress = limit(
    app,
    limits.deviceWritesPerAddress,
    windowMs,
    req => `device-ack|address|${callerKey(req.ip)}`,
    'INSTORE_RATE_LIMITED',
    'too many acknowledgements from this address'
  )
  const unknownAcksPerAddress = limit(
    app,
    limits.deviceWritesPerAddress,
    windowMs,
    req => `device-ack-unknown|address|${callerKey(req.ip)}`,
    'INSTORE_RATE_LIMITED',
    'too many acknowledgements of unknown triggers from this address'
  )
  const device = (f: (req: FastifyRequest) => Promise<void>) => async (req: FastifyRequest) => {
    if (req.principal?.role === 'device') await f(req)
  }
  const write = async (req: FastifyRequest) => {
    if (req.principal?.role !== 'device') return
    await perToken(req)
    await perAddress(req)
  }
  return {
    grant: async req => {
      if (req.principal?.role !== 'device') return
      await write(req)
      await perDevice(req)
    },
    restated: async req => {
      if (req.principal?.role !== 'device') return
      await perToken(req)
      await restatedPerAddress(req)
    },
    ack: device(perToken),
    ackFound: device(acksPerAddress),
    ackUnknown: device(unknownAcksPerAddress)
  }
}
