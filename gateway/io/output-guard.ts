// The gateway's own output topics are its alone, with or without logins (contract §4: positions,
// events and occupancy come from the gateway; footfall is its extension). Under `--auth` the login
// rules already refuse them (broker-auth.ts); without `--auth` this guard does, so a client that
// merely reaches the broker cannot forge a shopper's position or a `shop.enter` that every
// subscriber would take as the gateway's. The gateway publishes in-process, past this check.
import type { AedesOptions } from 'aedes'
import { topicMatches } from '../ingest/firmware-acl.ts'

type AuthorizePublish = NonNullable<AedesOptions['authorizePublish']>

/** Filters of the topics only the gateway publishes, for every store under `prefix`. */
export function outputFilters(prefix: string): string[] {
  return ['positions/#', 'events/#', 'occupancy/#', 'footfall/#'].map(f => `${prefix}/+/${f}`)
}

/**
 * Refuses a client's publish into the gateway's output topics (the client is disconnected, as
 * aedes does on a refused publish) and tells `denied`; every other publish goes on.
 */
export function outputGuard(prefix: string, denied: () => void): AuthorizePublish {
  const filters = outputFilters(prefix)
  return (_client, packet, callback) => {
    if (filters.some(f => topicMatches(f, packet.topic))) {
      denied()
      callback(new Error(`only the gateway publishes to ${packet.topic}`))
      return
    }
    callback(null)
  }
}

/** Addresses only this machine reaches: a broker listening there is not on the store's network. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase()
  return h === 'localhost' || h === '::1' || h === '[::1]' || /^127(\.\d{1,3}){3}$/.test(h)
}
