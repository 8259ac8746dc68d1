// deploy/nginx-instore.conf loads in the nginx at hand (s8 report item 5: `http2 on;` needs nginx
// 1.25.1, and Debian 12's 1.22 refused the whole file). `nginx -t` on the shipped file with a
// throwaway certificate, and the file run in front of a real server. nginx is not one of the parts CI installs (test/helpers/parts.ts), so
// without it the test is skipped, in CI too.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import https from 'node:https'
import { freePort, ROOT } from '../helpers/run.ts'
import { buildServer } from '../../server/app.ts'
import { silentLogger } from '../../shared/log.ts'

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(p => existsSync(p))
const OPENSSL = ['/usr/bin/openssl'].find(p => existsSync(p))

const SKIP = NGINX === undefined || OPENSSL === undefined ? 'nginx or openssl is not installed' : false

/** The shipped site file with a throwaway certificate, in a private prefix; `edit` rewrites it further. */
function prefix(edit: (site: string) => string = s => s): string {
  const dir = mkdtempSync(join(tmpdir(), 'nginx-'))
  mkdirSync(join(dir, 'logs'))
  execFileSync(
    OPENSSL as string,
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=localhost'],
    {
      stdio: 'ignore'
    }
  )
  const site = readFileSync(join(ROOT, 'deploy/nginx-instore.conf'), 'utf8')
    .replace('/etc/ssl/instore/fullchain.pem', join(dir, 'cert.pem'))
    .replace('/etc/ssl/instore/privkey.pem', join(dir, 'key.pem'))
  writeFileSync(join(dir, 'site.conf'), edit(site))
  // A private prefix, pid and logs: runs unprivileged and touches nothing of a system nginx.
  writeFileSync(
    join(dir, 'nginx.conf'),
    `pid ${dir}/nginx.pid;\nerror_log ${dir}/logs/error.log;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  fastcgi_temp_path ${dir}/fastcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;\n  include ${dir}/site.conf;\n}\n`
  )
  return dir
}

test('the example nginx config passes nginx -t', { skip: SKIP }, () => {
  const dir = prefix()
  const r = spawnSync(NGINX as string, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stderr, /test is successful/)
})

/** GET over the proxy's TLS (its certificate is a throwaway one); the status. */
function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path, rejectUnauthorized: false, headers: { host: 'instore.example.com' } }, res => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      .on('error', reject)
  })
}

// s9 outside tester, item 2: the file proxied everything, so /metrics and /docs, which need no
// token, were published to the internet. The shipped file runs in front of a real server.
test('the example nginx config keeps /metrics and /docs off the internet and passes the API', { skip: SKIP }, async () => {
  const { app } = await buildServer({ dataDir: mkdtempSync(join(tmpdir(), 'nginx-server-')), log: silentLogger, adminToken: 'adm_nginx_test_0123456789abcdef' })
  const server = new URL(await app.listen({ port: 0, host: '127.0.0.1' }))
  const port = await freePort()
  const dir = prefix(site => site.replace('listen 443', `listen 127.0.0.1:${port}`).replaceAll(/127\.0\.0\.1:808[01]/g, `127.0.0.1:${server.port}`))
  const r = spawnSync(NGINX as string, ['-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  try {
    assert.equal((await fetch(`${server.origin}/metrics`)).status, 200, 'the replica itself still answers /metrics')
    for (const path of ['/metrics', '/metrics/', '/metrics?x=1', '//metrics', '/%6detrics', '/docs', '/docs/json', '/docs/'])
      assert.equal(await get(port, path), 404, `${path} through the proxy`)
    assert.equal(await get(port, '/healthz'), 200)
    assert.equal(await get(port, '/v1/stores'), 401, 'the API passes (and wants its token)')
    assert.equal(await get(port, '/metricsfoo'), 404, "an unknown path is the server's 404")
  } finally {
    spawnSync(NGINX as string, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-s', 'stop'])
    await app.close()
  }
})
