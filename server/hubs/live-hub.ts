// Live dashboard fan-out: the last snapshot of each store and the SSE listeners following it.
// Apart from routes/dashboard.ts so that the server's Context can name it without importing a route.
type Listener = (event: string, data: string) => void

export class LiveHub {
  private readonly listeners = new Map<string, Set<Listener>>()
  readonly last = new Map<string, string>()
  publish(storeId: string, event: string, data: unknown): void {
    const text = JSON.stringify(data)
    if (event === 'snapshot') this.last.set(storeId, text)
    for (const l of this.listeners.get(storeId) ?? []) l(event, text)
  }

  subscribe(storeId: string, l: Listener): () => void {
    let set = this.listeners.get(storeId)
    if (!set) {
      set = new Set()
      this.listeners.set(storeId, set)
    }
    set.add(l)
    return () => {
      set?.delete(l)
    }
  }
}
