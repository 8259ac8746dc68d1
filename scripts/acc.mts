import { loadSiteFile } from '../shared/site.ts'
import { measureAccuracy } from '../bench/accuracy-lib.ts'
const [siteF, trace] = process.argv.slice(2)
const site = loadSiteFile(siteF)
for (const m of ['baseline', 'gateway'] as const) {
  const r = await measureAccuracy(site, trace, m)
  console.log(m, r.samples, r.error.mean.toFixed(3), r.error.median.toFixed(3), r.error.p95.toFixed(3), (r.sectorAgreement*100).toFixed(1))
}
