// A pool worker's first module (worker-group.ts): workers do not inherit the loader the process
// runs TypeScript with (`--import tsx`, or tsx's API in bin/), so each registers it for itself.
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.script)
