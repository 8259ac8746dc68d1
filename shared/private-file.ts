// Database files hold subjects, visits and token hashes: readable by their owner only. SQLite
// creates its -wal and -shm files with the main file's permissions, so creating the main file
// 0600 before SQLite opens it covers all three.
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs'

/** Creates `path` with mode 0600 if absent, tightens it (and its WAL files) if present; returns `path`. */
export function privateFile(path: string): string {
  if (path === ':memory:') return path
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600))
  for (const p of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(p)) chmodSync(p, 0o600)
  return path
}
