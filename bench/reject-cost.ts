// CPU of rejecting hostile topics and of redacting long runs of hex groups (reviewer s12): what a
// stranger's messages cost the broker's thread. Prints JSON; `root` runs the same cases on another
// checkout (a throwaway copy of an older commit) for a before/after.
//   node --import tsx bench/reject-cost.ts [root]
import { resolve } from 'node:path'

const root = resolve(process.argv[2] ?? '.')
const { ingest } = await import(`${root}/gateway/ingest/ingest.ts`)
const { SubjectHasher } = await import(`${root}/gateway/ingest/subjects.ts`)
const { redactMacs } = await import(`${root}/shared/macs.ts`)

/** CPU milliseconds per call of `f`, over `n` calls after a few to warm up; or the error it threw. */
function cpuMs(n: number, f: () => unknown): number | string {
  try {
    for (let i = 0; i < Math.min(n, 5); i++) f()
    const c = process.cpuUsage()
    for (let i = 0; i < n; i++) f()
    const d = process.cpuUsage(c)
    return Number(((d.user + d.system) / n / 1000).toFixed(4))
  } catch (err) {
    return (err as Error).message
  }
}

const ctx = {
  prefix: 'instore',
  storeId: 's1',
  sensors: new Set(['a']),
  beacons: new Set(),
  maxBytes: 65536,
  hasher: new SubjectHasher('s'),
  identityTime: (t: number | null) => t ?? NaN
}
const reject = (topic: string) => () => ingest(topic, Buffer.from('{}'), ctx)
const out = {
  rejectMsPerMessage: {
    "instore/ + 'ab:' x 300": cpuMs(100, reject(`instore/${'ab:'.repeat(300)}`)),
    "instore/s1/ + 'a/' x 2000": cpuMs(300, reject(`instore/s1/${'a/'.repeat(2000)}`)),
    plain: cpuMs(20_000, reject('instore/s1/sensors/a/readings/extra'))
  },
  redactMs: {
    "'ab:' x 16000": cpuMs(1, () => redactMacs('ab:'.repeat(16_000))),
    '4,000 MACs': cpuMs(1, () => redactMacs('aabbccddeeff:'.repeat(4000))),
    '16,000 MACs': cpuMs(1, () => redactMacs('aabbccddeeff:'.repeat(16_000)))
  }
}
console.log(JSON.stringify(out, null, 2))
