// The outside tester's t6 part 1: a trigger queued while the phone was offline, then marketing
// consent withdrawn and given again (the next day, say): the phone received the old trigger. Now
// withdrawing marketing consent drops (expires) the device's pending triggers, counted.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { api } from '../helpers/procs.ts'
import { waitFor } from '../helpers/gateway.ts'
import { startChain, registerDevice } from '../helpers/replicas.ts'
import { fire, makeCampaign, metric, openTriggers, type Opened } from '../helpers/streams.ts'
// Named here so that scripts/test.ts runs this file again on PostgreSQL.
import { TEST_ENGINE } from '../helpers/postgres.ts'

test(`a trigger pending when marketing consent is withdrawn never reaches the phone, even once consent is given again (${TEST_ENGINE})`, async () => {
  const chain = await startChain('consent-pending', 2)
  let stream: Opened | null = null
  try {
    const [a, b] = chain.replicas
    await makeCampaign(chain, 'pending')
    const dev = await registerDevice(a.url)
    await fire(chain, dev.subject, 'T-before', 'pending')
    const consent = (marketing: boolean) => api(`${a.url}/v1/devices/${dev.deviceId}/consent`, dev.token, 'PUT', { presence: true, marketing })
    assert.equal((await consent(false)).status, 200)
    assert.equal((await consent(true)).status, 200)
    stream = await openTriggers(b.url, dev.deviceId, dev.token)
    assert.equal(stream.status, 200)
    // A trigger after consent was given again arrives; the one from before the withdrawal does not.
    await fire(chain, dev.subject, 'T-after', 'pending')
    const s = stream
    await waitFor(() => s.triggers.includes('T-after'), 10_000, 'the new trigger')
    assert.deepEqual(s.triggers, ['T-after'])
    assert.equal(await metric(a.url, 'instore_server_triggers_dropped_total{reason="consent_withdrawn"}'), 1)
  } finally {
    stream?.close()
    await chain.close()
  }
})
