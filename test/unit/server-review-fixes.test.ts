// Two of the s7 reviewer's minor server findings. A pool connect failing with pg's "Connection
// terminated due to connection timeout" (the database down) matched /timeout/i and was answered as a
// busy 503, not counted as an error: only pg-pool's own wait running out is busy now. And a value
// refused by a schema was echoed whole into the error message: it is cut to ECHO_MAX characters.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifySchemaValidationError } from 'fastify'
import { isPoolWaitTimeout } from '../../server/db/db.ts'
import { ECHO_MAX, validationMessage } from '../../server/validation-message.ts'

test('only pg-pool waiting for a free connection is busy; a connection timing out is the database down', () => {
  const cases: Array<[message: string, busy: boolean]> = [
    ['timeout exceeded when trying to connect', true],
    ['Connection terminated due to connection timeout', false],
    ['connect ECONNREFUSED 127.0.0.1:5432', false],
    ['Query read timeout', false]
  ]
  for (const [message, busy] of cases) assert.equal(isPoolWaitTimeout(new Error(message)), busy, message)
})

test('a refused value is echoed at most ECHO_MAX characters long', () => {
  const long = 'x'.repeat(100_000)
  const choice = (v: string): FastifySchemaValidationError => ({
    keyword: 'const',
    instancePath: '/when/event',
    schemaPath: '',
    params: { allowedValue: v },
    message: 'must be equal to constant'
  })
  const cases: Array<[what: string, errors: FastifySchemaValidationError[], body: unknown]> = [
    ['a choice given a long value', [choice('a'), choice('b')], { when: { event: long } }],
    ['an unknown long key', [{ keyword: 'additionalProperties', instancePath: '', schemaPath: '', params: { additionalProperty: long }, message: '' }], {}]
  ]
  for (const [what, errors, body] of cases) {
    const m = validationMessage('body', errors, body)
    assert.ok(m.length < ECHO_MAX + 100, `${what}: ${m.length} characters`)
    assert.match(m, /x{150,}…/, what)
  }
})
