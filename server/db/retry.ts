// A transaction that PostgreSQL aborted because of another one (a deadlock between two replicas
// locking the same devices in another order, a serialization failure) is run again from the
// start: nothing of it was committed. SQLite runs one writer at a time and never aborts so.
const RETRYABLE = new Set(['40001', '40P01'])

export async function retryConflicts<T>(run: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await run()
    } catch (err) {
      const code = (err as { code?: unknown }).code
      if (i >= attempts || typeof code !== 'string' || !RETRYABLE.has(code)) throw err
      await new Promise(resolve => setTimeout(resolve, Math.random() * 20 * i))
    }
  }
}
