// Rate limits on what an app's token may write (consent changes, erasure, acknowledgements):
// anyone gets a device token without authentication, so each such request is counted per token
// and per caller address (many tokens behind one address), and consent grants per device, since
// each change takes a config version that every gateway's next delta carries. Counted in the
// database (DbRateStore, app.ts), so two replicas behind one load balancer share one count.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { HttpError } from './auth.ts'
import { callerKey } from './caller-address.ts'

export interface DeviceLimits {
  /** Writes (consent, erasure, acknowledgements) per device token per window (429 INSTORE_RATE_LIMITED beyond). */
  deviceWritesPerToken: number
  /** Writes by device tokens per caller address per window (429 INSTORE_RATE_LIMITED beyond). */
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
  /** onRequest hook, after authentication: counts a device token's write, refuses it past a limit. Admin tokens are not counted. */
  write: (req: FastifyRequest) => Promise<void>
  /** Counts a consent grant of the device the route names (`:id`), refuses it past the limit. */
  grant: (req: FastifyRequest) => Promise<void>
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>

async function check(limiter: Limiter, req: FastifyRequest, code: string, what: string): Promise<void> {
  const r = await limiter(req)
  if (!r.isAllowed && r.isExceeded) {
    const s = Math.max(1, r.ttlInSeconds)
    throw new HttpError(429, code, `${what}; retry in ${s} s`, { 'retry-after': String(s) })
  }
}

/** Needs @fastify/rate-limit registered on `app` (its store counts them). */
export function deviceLimiter(app: FastifyInstance, limits: DeviceLimits, windowMs: number): DeviceLimiter {
  // Every limiter made by createRateLimit shares one store prefix: the keys tell them apart.
  const perToken = app.createRateLimit({ max: limits.deviceWritesPerToken, timeWindow: windowMs, keyGenerator: req => `device-write|token|${req.principal?.tokenId}` })
  const perAddress = app.createRateLimit({ max: limits.deviceWritesPerAddress, timeWindow: windowMs, keyGenerator: req => `device-write|address|${callerKey(req.ip)}` })
  const perDevice = app.createRateLimit({
    max: limits.consentGrantsPerDevice,
    timeWindow: windowMs,
    keyGenerator: req => `consent-grant|${(req.params as { id?: string }).id}`
  })
  return {
    write: async req => {
      if (req.principal?.role !== 'device') return
      await check(perToken, req, 'INSTORE_RATE_LIMITED', 'too many writes with this device token')
      await check(perAddress, req, 'INSTORE_RATE_LIMITED', 'too many device writes from this address')
    },
    grant: req => check(perDevice, req, 'INSTORE_TOO_MANY_CONSENT_CHANGES', 'this device has granted consent too often')
  }
}
