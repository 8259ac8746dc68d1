// What a gateway's config pull costs with many registered devices: the whole config (first pull,
// or once per 2^16-s epoch), a delta after one registration, and a pull when nothing changed.
// `node --import tsx bench/config-delta.ts [devices]` (default 3000): bytes of each, as JSON.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildServer } from '../server/app.ts'
import { loadSiteFile } from '../shared/site.ts'
import { silentLogger } from '../shared/log.ts'

const ADMIN = 'adm_bench_config'

export async function configDelta(devices: number): Promise<{ devices: number; fullBytes: number; oneChangeBytes: number; unchangedStatus: number; unchangedBytes: number }> {
  const { app } = await buildServer({ dataDir: mkdtempSync(join(tmpdir(), 'bench-cfg-')), log: silentLogger, adminToken: ADMIN })
  try {
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    const post = async (path: string, body: unknown, token: string | null = ADMIN) =>
      await fetch(url + path, {
        method: 'POST',
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
        body: JSON.stringify(body)
      })
    const site = loadSiteFile('sites/boutique.site.json')
    const { gatewayToken } = (await (await post('/v1/stores', { site: site.file })).json()) as { gatewayToken: string }
    for (let i = 0; i < devices; i++) await post('/v1/devices', { consent: { presence: true, marketing: i % 2 === 0 } }, null)
    const get = async (since?: string, etag?: string) =>
      await fetch(`${url}/v1/stores/${site.storeId}/config${since ? `?since=${since}` : ''}`, {
        headers: { authorization: `Bearer ${gatewayToken}`, ...(etag ? { 'if-none-match': etag } : {}) }
      })
    const full = await get()
    const fullText = await full.text()
    const version = (JSON.parse(fullText) as { version: string }).version
    await post('/v1/devices', { consent: { presence: true, marketing: true } }, null)
    const delta = await get(version)
    const deltaText = await delta.text()
    const v2 = (JSON.parse(deltaText) as { version: string }).version
    const same = await get(v2)
    const etag = same.headers.get('etag') ?? ''
    await same.arrayBuffer()
    const unchanged = await get(v2, etag)
    const unchangedText = await unchanged.text()
    return { devices, fullBytes: fullText.length, oneChangeBytes: deltaText.length, unchangedStatus: unchanged.status, unchangedBytes: unchangedText.length }
  } finally {
    await app.close()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? 3000)
  console.log(JSON.stringify(await configDelta(n)))
}
