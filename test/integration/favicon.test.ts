// The dashboard and the demo phone name their icon inline (repro: every page load in a desktop
// browser asked for /favicon.ico and got a 404, an error in its console). Headless Chromium asks
// for no icon, so the check is on what the pages and their policy say.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startServer, stopChild } from '../helpers/procs.ts'

test('the dashboard and the demo phone declare an inline icon their content policy allows (no /favicon.ico request)', async () => {
  const server = await startServer(mkdtempSync(join(tmpdir(), 'favicon-')), 'adm_test_token_0123456789')
  try {
    for (const path of ['/', '/phone']) {
      const res = await fetch(server.url + path)
      assert.equal(res.status, 200, path)
      assert.match(await res.text(), /<link rel="icon" href="data:,">/, path)
      assert.match(res.headers.get('content-security-policy') ?? '', /img-src [^;]*data:/, path)
    }
  } finally {
    await stopChild(server.child)
  }
})
