// What one whole config's device list costs the server to build, in CPU time (the machine is
// shared, so wall time is noise): `node --import tsx bench/config-build-cost.ts [devices]`
// (default 100000). Consenting devices go straight into a fresh SQLite file; then a whole pull is
// answered once cold (the list built), once warm (the list kept) and once after one device's
// consent changed (the list followed). Prints JSON.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes, randomUUID } from 'node:crypto'
import { nextConfigVersion, openData } from '../server/db/db.ts'
import { ConfigReplies } from '../server/config-reply.ts'

export async function configBuildCost(devices: number): Promise<{ devices: number; coldCpuMs: number; warmCpuMs: number; changedCpuMs: number; bodyBytes: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cfg-build-'))
  const data = await openData({ dataDir: dir })
  try {
    await data.db.transaction().execute(async trx => {
      const version = await nextConfigVersion(trx)
      const now = Date.now()
      for (let i = 0; i < devices; i += 500) {
        const rows = Array.from({ length: Math.min(500, devices - i) }, (_, j) => ({
          device_id: randomUUID(),
          subject: 'app:' + randomBytes(8).toString('hex'),
          identity_key: randomBytes(16).toString('hex'),
          k: 10,
          presence: 1,
          marketing: (i + j) % 3 !== 0 ? 1 : 0,
          listed: 1,
          version,
          created: now
        }))
        await trx.insertInto('devices').values(rows).execute()
      }
    })
    const replies = new ConfigReplies(data.db, 30 * 86_400_000)
    const cpu = async (): Promise<[number, number]> => {
      const t0 = process.cpuUsage()
      const r = await replies.pull('s1', { type: 'FeatureCollection', features: [] }, undefined, undefined, 't', Promise.resolve())
      // A reply whose list is being built streams it (since s11): the cost is until the list is there.
      const bytes = r.kind === 'body' ? r.bytes : r.kind === 'building' ? r.head.length + (await r.devices).reduce((n, p) => n + p.length, 0) + r.tail.length : 0
      const t = process.cpuUsage(t0)
      return [(t.user + t.system) / 1000, bytes]
    }
    const [coldCpuMs, bodyBytes] = await cpu()
    const [warmCpuMs] = await cpu()
    // One device withdraws its presence consent: a new config version.
    await data.db.transaction().execute(async trx => {
      const version = await nextConfigVersion(trx)
      const one = await trx.selectFrom('devices').select('device_id').limit(1).executeTakeFirstOrThrow()
      await trx.updateTable('devices').set({ presence: 0, version }).where('device_id', '=', one.device_id).execute()
    })
    const [changedCpuMs] = await cpu()
    return { devices, coldCpuMs: Math.round(coldCpuMs), warmCpuMs: Math.round(warmCpuMs), changedCpuMs: Math.round(changedCpuMs), bodyBytes }
  } finally {
    await data.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await configBuildCost(Number(process.argv[2] ?? 100_000))))
}
