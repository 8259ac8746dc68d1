// The main thread's own CPU time (throughput-child.ts): process.cpuUsage counts every thread.
import { readFileSync } from 'node:fs'

/**
 * The main thread's CPU time so far, s, from /proc (utime and stime of its task, in clock ticks of
 * 10 ms): process.cpuUsage counts every thread, the test and solver pools' workers included.
 */
export function mainThreadCpuS(): number | null {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch {
    return null
  }
}
