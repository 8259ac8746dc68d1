// Who a caller is, for every per-address limit (rate limits, trigger streams): an IPv4 address
// (an IPv4-mapped IPv6 one included) on its own, an IPv6 address by its /64. One subscriber line
// or host is routinely given a whole /64, so a caller changing its interface id is the same caller.
import { normalizeIP } from '@fastify/rate-limit'

/** Prefix length an IPv6 caller is grouped by (an ISP's smallest usual allocation). */
export const IPV6_CALLER_PREFIX = 64

/** The key per-address limits count under. */
export function callerKey(ip: string): string {
  return normalizeIP(ip, IPV6_CALLER_PREFIX)
}
