// What stored MQTT sessions cost the embedded broker: N clients leave sessions (clean: false)
// subscribed to '#' at QoS 1, one client sends M QoS 1 messages of SIZE bytes to a topic nothing
// reads (the s10 tester G repro's shape), with aedes' own in-memory store and with the bounded one
// (shared/session-store.ts, default bounds). Prints the heap growth after a full GC and what each
// store holds, as JSON.
// Usage: node --expose-gc --import tsx bench/session-queue.ts [N=90] [M=15000] [SIZE=16]
import mqtt from 'mqtt'
import { createRequire } from 'node:module'
import type { AedesOptions } from 'aedes'
import { startBroker } from '../shared/broker.ts'

const [N, M, SIZE] = [Number(process.argv[2] ?? 90), Number(process.argv[3] ?? 15000), Number(process.argv[4] ?? 16)]
/** aedes' default store (aedes-persistence's in-memory class). */
const AedesMemory = createRequire(import.meta.url)('aedes-persistence/asyncPersistence.js') as new () => AedesOptions['persistence']
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with node --expose-gc')
const heapMiB = (): number => {
  gc()
  return process.memoryUsage().heapUsed / 2 ** 20
}

async function run(store: 'aedes' | 'bounded'): Promise<Record<string, number | string>> {
  const b = await startBroker(store === 'aedes' ? { aedes: { persistence: new AedesMemory() } } : {})
  try {
    for (let i = 0; i < N; i++) {
      const c = await mqtt.connectAsync(b.url, { clientId: `lurker-${i}`, clean: false, reconnectPeriod: 0 })
      await c.subscribeAsync('#', { qos: 1 })
      await c.endAsync()
    }
    const pub = await mqtt.connectAsync(b.url, { clientId: 'stranger', reconnectPeriod: 0 })
    const h0 = heapMiB()
    const body = Buffer.alloc(SIZE, 120)
    for (let i = 0; i < M; i++) {
      if (i % 200 === 199) await pub.publishAsync('x/junk', body, { qos: 1 })
      else pub.publish('x/junk', body, { qos: 1 })
    }
    await pub.endAsync()
    const grown = heapMiB() - h0
    const s = b.sessions
    return {
      store,
      heapGrowthMiB: Math.round(grown * 10) / 10,
      ...(store === 'bounded'
        ? { storedSessions: s.storedSessions, queuedMessages: s.queuedMessages, queuedCostMiB: Math.round((s.queuedCost / 2 ** 20) * 10) / 10, ...s.dropped, ...s.ended }
        : { queuedMessages: N * M })
    }
  } finally {
    await b.close()
  }
}

const results = [await run('aedes'), await run('bounded')]
console.log(JSON.stringify({ lurkers: N, messages: M, bytes: SIZE, results }, null, 2))
