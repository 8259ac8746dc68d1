import { loadSiteFile } from '../shared/site.ts'
import { measureAccuracy } from '../bench/accuracy-lib.ts'
const [siteF, trace] = process.argv.slice(2)
const site = loadSiteFile(siteF)
const variants: Record<string, object> = JSON.parse(process.argv[4] ?? '{"default":{}}')
for (const [name, v] of Object.entries(variants)) {
  const r = await measureAccuracy(site, trace, 'gateway', v)
  console.log(name.padEnd(14), r.error.mean.toFixed(3), r.error.median.toFixed(3), r.error.p95.toFixed(3))
}
