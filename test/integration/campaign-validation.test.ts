// Campaigns that could never fire are refused with the reason (repro: an unknown store, a sector
// the store's site does not have, a schedule from after to, 2026-02-30 were all 201), and a
// mistyped when.event names the values allowed once (repro: "must be equal to constant" five times).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../helpers/run.ts'
import { startServer, stopChild, api } from '../helpers/procs.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'

const ADMIN = 'adm_test_token_0123456789'
const site = JSON.parse(readFileSync(join(ROOT, 'sites/boutique.site.json'), 'utf8'))
const base = { stores: ['boutique-1'], when: { event: 'shop.enter' }, content: { title: 'x' } }

const cases: Array<{ name: string; body: Record<string, unknown>; status: number; error?: string; says: RegExp }> = [
  { name: 'ok', body: { ...base, when: { event: 'sector.dwell', sector: 'women', minDwellS: 30 } }, status: 201, says: /./ },
  { name: 'no-store', body: { ...base, stores: ['no-such-store'] }, status: 400, error: 'INSTORE_UNKNOWN_STORE', says: /unknown store\(s\) no-such-store/ },
  {
    name: 'no-sector',
    body: { ...base, when: { event: 'sector.dwell', sector: 'no-such-sector', minDwellS: 30 } },
    status: 400,
    error: 'INSTORE_UNKNOWN_ZONE',
    says: /when\.sector 'no-such-sector': no such sector in the site of store\(s\) boutique-1/
  },
  { name: 'no-shop', body: { ...base, when: { event: 'shop.enter', shop: 'bakery' } }, status: 400, error: 'INSTORE_UNKNOWN_ZONE', says: /when\.shop 'bakery'/ },
  {
    name: 'backwards',
    body: { ...base, schedule: { from: '2026-12-31', to: '2026-01-01' } },
    status: 400,
    error: 'INSTORE_BAD_SCHEDULE',
    says: /from 2026-12-31 is after to 2026-01-01/
  },
  { name: 'feb30', body: { ...base, schedule: { from: '2026-02-30' } }, status: 400, error: 'INSTORE_BAD_SCHEDULE', says: /2026-02-30 is not a date of the calendar/ },
  { name: 'hours', body: { ...base, schedule: { hours: [['18:00', '09:00']] } }, status: 400, error: 'INSTORE_BAD_SCHEDULE', says: /18:00 is not before 09:00/ },
  {
    name: 'typo',
    body: { ...base, when: { event: 'shop.entered' } },
    status: 400,
    error: 'INSTORE_BAD_REQUEST',
    says: /^body\/when\/event must be one of "shop\.enter", "shop\.exit", "sector\.enter", "sector\.exit", "sector\.dwell", got "shop\.entered"$/
  }
]

test(`campaigns that can never fire are refused with the reason; an unknown event names the allowed ones (${TEST_ENGINE})`, async () => {
  const server = await startServer(mkdtempSync(join(tmpdir(), 'campaign-validation-')), ADMIN)
  try {
    assert.equal((await api(`${server.url}/v1/stores`, ADMIN, 'POST', { site })).status, 201)
    for (const c of cases) {
      for (const method of ['POST', 'PUT'] as const) {
        const id = `${c.name}-${method.toLowerCase()}`
        const r = await api<{ error: string; message: string }>(`${server.url}/v1/campaigns${method === 'PUT' ? `/${id}` : ''}`, ADMIN, method, { id, ...c.body })
        assert.equal(r.status, method === 'PUT' && c.status === 201 ? 200 : c.status, `${id}: ${JSON.stringify(r.body)}`)
        if (c.error !== undefined) {
          assert.equal(r.body.error, c.error, id)
          assert.match(r.body.message, c.says, id)
        }
      }
    }
  } finally {
    await stopChild(server.child)
  }
})
