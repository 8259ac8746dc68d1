// The last central config a gateway applied, kept in its SQLite file: a gateway restarted while the
// server is away still resolves consenting apps and runs their campaigns, and asks only for what
// changed since when the server is back. The temporary keys in it expire within two epochs.
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { GatewayConfigSchema, type GatewayConfigT } from '../../shared/gateway-config.ts'
import type { GatewayStore } from './store.ts'

const NAME = 'central-config'
const check = TypeCompiler.Compile(GatewayConfigSchema)

/** Saves a config (one full config standing for everything applied so far). */
export function keepConfig(store: GatewayStore, c: GatewayConfigT): void {
  store.saveLearned(NAME, c.storeId, JSON.stringify(c), Date.now())
}

/** The config an earlier run kept for this store, if it still reads as one. */
export function keptConfig(store: GatewayStore, storeId: string): GatewayConfigT | null {
  const saved = store.loadLearned(NAME)
  if (!saved || saved.key !== storeId) return null
  try {
    const c: unknown = JSON.parse(saved.state)
    return check.Check(c) ? c : null
  } catch {
    return null
  }
}
