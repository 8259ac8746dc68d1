// An embedded aedes broker on a TCP port (0 = a free one). aedes 1.x speaks MQTT 3.1.1.
import { createServer, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import { Aedes, type AedesOptions } from 'aedes'

export interface EmbeddedBroker {
  broker: Aedes
  server: Server
  port: number
  url: string
  close (): Promise<void>
}

export async function startBroker (opts: { port?: number, host?: string, aedes?: AedesOptions } = {}): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker(opts.aedes)
  const sockets = new Set<Socket>()
  const server = createServer(socket => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    broker.handle(socket)
  })
  server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    broker, server, port, url: `mqtt://${opts.host ?? '127.0.0.1'}:${port}`,
    async close () {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
      await new Promise<void>(resolve => broker.close(() => resolve()))
    }
  }
}
