// The SDK's trigger stream against a real HTTP server on port 0 that speaks the server's SSE:
// a trigger is received only once the app's handler has finished with it, failing handlers are
// retried a bounded number of times, and replays after a reconnect are not handled twice.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { InstoreClient, type Trigger } from '../../sdk/client.ts'
import { waitFor } from '../helpers/gateway.ts'

const trig = (n: number): Trigger => ({ triggerId: `t${n}`, storeId: 's1', campaignId: 'c1', ts: 1, expires: Date.now() + 60_000, content: { title: `hello ${n}` } })
const frame = (n: number) => `id: ${n}\nevent: trigger\ndata: ${JSON.stringify(trig(n))}\n\n`

/** An SSE server: each connection gets `script(connection number, last-event-id)` then stays open. */
async function sse(script: (conn: number, lastId: string | undefined) => number[]) {
  const open: ServerResponse[] = []
  const lastIds: Array<string | undefined> = []
  const server = createServer((req, res) => {
    const lastId = req.headers['last-event-id'] as string | undefined
    lastIds.push(lastId)
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write(': connected\n\n')
    for (const n of script(lastIds.length, lastId)) res.write(frame(n))
    open.push(res)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    lastIds,
    /** Ends every open stream: the client reconnects. */
    drop() {
      for (const r of open.splice(0)) r.end()
    },
    async close() {
      for (const r of open.splice(0)) r.end()
      server.closeAllConnections()
      await new Promise(resolve => server.close(resolve))
    }
  }
}

const client = (url: string) => new InstoreClient({ baseUrl: url, deviceId: 'd1', token: 'dev_x' })

test('SDK: a trigger whose handler throws once is retried and received, not lost', async () => {
  const s = await sse(() => [1, 2])
  const got: string[] = []
  let failed = false
  const sub = client(s.url).triggers(
    t => {
      if (t.triggerId === 't1' && !failed) {
        failed = true
        throw new Error('app busy')
      }
      got.push(t.triggerId)
    },
    { handlerRetryMs: 5, retryMs: 10 }
  )
  try {
    await waitFor(() => got.length >= 2, 5_000, 'both triggers handled')
    assert.deepEqual(got, ['t1', 't2'])
    assert.equal(sub.lastEventId, '2')
  } finally {
    sub.close()
    await s.close()
  }
})

test('SDK: lastEventId moves past a trigger only after an async handler resolves', async () => {
  const s = await sse(() => [7])
  let release = () => {}
  let started = false
  const sub = client(s.url).triggers(async () => {
    started = true
    await new Promise<void>(resolve => {
      release = resolve
    })
  })
  try {
    await waitFor(() => started, 5_000, 'handler started')
    assert.equal(sub.lastEventId, null, 'not received while the handler still runs')
    release()
    await waitFor(() => sub.lastEventId === '7', 5_000, 'received once the handler resolved')
  } finally {
    sub.close()
    await s.close()
  }
})

test('SDK: a handler that always rejects is tried a bounded number of times, reported, and the stream goes on', async () => {
  const s = await sse(() => [1, 2])
  const calls: string[] = []
  const errors: string[] = []
  const sub = client(s.url).triggers(
    async t => {
      calls.push(t.triggerId)
      if (t.triggerId === 't1') throw new Error('broken')
    },
    { handlerAttempts: 3, handlerRetryMs: 5, onError: e => errors.push((e as Error & { code?: string }).code ?? e.message) }
  )
  try {
    await waitFor(() => calls.includes('t2'), 5_000, 'the next trigger handled')
    assert.deepEqual(calls, ['t1', 't1', 't1', 't2'])
    assert.deepEqual(errors, ['HANDLER_FAILED', 'HANDLER_FAILED', 'HANDLER_GAVE_UP'])
  } finally {
    sub.close()
    await s.close()
  }
})

test('SDK: after a reconnect the stream resumes from the last handled id and replays are handled once', async () => {
  // The server replays everything on each connection (as if it ignored Last-Event-ID).
  const s = await sse(conn => (conn === 1 ? [1, 2] : [1, 2, 3]))
  const got: string[] = []
  const sub = client(s.url).triggers(
    t => {
      got.push(t.triggerId)
    },
    { retryMs: 10 }
  )
  try {
    await waitFor(() => got.length >= 2, 5_000, 'first two')
    s.drop()
    await waitFor(() => got.length >= 3, 5_000, 'third after reconnect')
    assert.deepEqual(got, ['t1', 't2', 't3'])
    assert.equal(s.lastIds[1], '2', 'resumes with Last-Event-ID of the last handled trigger')
  } finally {
    sub.close()
    await s.close()
  }
})
