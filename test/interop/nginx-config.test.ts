// deploy/nginx-instore.conf loads in the nginx at hand (s8 report item 5: `http2 on;` needs nginx
// 1.25.1, and Debian 12's 1.22 refused the whole file). `nginx -t` on the shipped file with a
// throwaway certificate. nginx is not one of the parts CI installs (test/helpers/parts.ts), so
// without it the test is skipped, in CI too.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../helpers/run.ts'

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(p => existsSync(p))
const OPENSSL = ['/usr/bin/openssl'].find(p => existsSync(p))

test('the example nginx config passes nginx -t', { skip: NGINX === undefined || OPENSSL === undefined ? 'nginx or openssl is not installed' : false }, () => {
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
  writeFileSync(join(dir, 'site.conf'), site)
  // A private prefix, pid and logs: runs unprivileged and touches nothing of a system nginx.
  writeFileSync(
    join(dir, 'nginx.conf'),
    `pid ${dir}/nginx.pid;\nerror_log ${dir}/logs/error.log;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  fastcgi_temp_path ${dir}/fastcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;\n  include ${dir}/site.conf;\n}\n`
  )
  const r = spawnSync(NGINX as string, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stderr, /test is successful/)
})
