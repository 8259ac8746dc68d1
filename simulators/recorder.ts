// Records what a gateway publishes (positions, events, occupancy) as JSON Lines, for evaluation.
import type { MqttClient } from 'mqtt'
import { JsonLinesWriter } from '../shared/trace.ts'

export interface RecordedMessage {
  topic: string
  msg: unknown
}

export class Recorder {
  private readonly out: JsonLinesWriter
  private chain: Promise<void> = Promise.resolve()
  count = 0
  lastAt = Date.now()

  constructor(
    private readonly client: MqttClient,
    path: string,
    private readonly prefix: string
  ) {
    this.out = new JsonLinesWriter(path)
  }

  async start(): Promise<void> {
    this.client.on('message', (topic, payload) => {
      let msg: unknown
      try {
        msg = JSON.parse(payload.toString())
      } catch {
        msg = payload.toString()
      }
      this.count++
      this.lastAt = Date.now()
      this.chain = this.chain.then(async () => await this.out.write({ topic, msg }))
    })
    await this.client.subscribeAsync([`${this.prefix}/+/positions/+`, `${this.prefix}/+/events/#`, `${this.prefix}/+/occupancy`], { qos: 1 })
  }

  /** Waits until nothing has arrived for `quietMs`, at most `maxMs`. */
  async settle(quietMs: number, maxMs: number): Promise<void> {
    const until = Date.now() + maxMs
    while (Date.now() - this.lastAt < quietMs && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 50))
  }

  async close(): Promise<void> {
    await this.chain
    await this.out.close()
    await this.client.endAsync()
  }
}
