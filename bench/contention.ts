// How much of the two cores something else used during a measurement: other processes, the
// hypervisor (steal), the kernel's softirq work. Read from /proc/stat (Linux only).
import { readFileSync } from 'node:fs'

const TICKS_PER_SECOND = 100

export interface Cores {
  /** Busy seconds per core, including time stolen by the hypervisor. */
  busy: number[]
  /** This process's own CPU seconds. */
  self: number
}

export function readCores (): Cores {
  const busy: number[] = []
  try {
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const match = /^cpu(\d+) (.*)$/.exec(line)
      if (match === null) continue
      // user nice system idle iowait irq softirq steal …
      const [user, nice, system, , , irq, softirq, steal] = match[2].trim().split(/\s+/).map(Number)
      busy[Number(match[1])] = (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND
    }
  } catch {}
  const { user, system } = process.cpuUsage()
  return { busy, self: (user + system) / 1e6 }
}

/**
 * The cores' busy time not spent by the load (this process, core 0) or by the server (core 1),
 * as a share of one core over the measurement; NaN where /proc/stat is missing.
 */
export function otherLoad (before: Cores, after: Cores, serverSeconds: number, wallSeconds: number): number {
  if (before.busy.length < 2 || after.busy.length < 2) return NaN
  const busy = (after.busy[0] - before.busy[0]) + (after.busy[1] - before.busy[1])
  return Math.max(0, busy - (after.self - before.self) - serverSeconds) / wallSeconds
}

/** The share of the two cores busy over `seconds`, while this benchmark itself is idle. */
async function busyShare (seconds: number): Promise<number> {
  const before = readCores()
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  const after = readCores()
  if (before.busy.length < 2) return 0
  return Math.max(0, (after.busy[0] - before.busy[0]) + (after.busy[1] - before.busy[1]) - (after.self - before.self)) / seconds
}

/**
 * Waits, at most `budget.seconds` over the whole run, until the machine is quiet: on a shared
 * machine a test suite may be running; measuring through it would only measure it.
 */
export async function waitForQuiet (budget: { seconds: number }, quiet = 0.1): Promise<void> {
  let waited = 0
  while (budget.seconds > 0) {
    const busy = await busyShare(1)
    budget.seconds--
    if (busy <= quiet) break
    if (waited++ === 0) console.error(`waiting for the machine to be quiet (other work: ${Math.round(busy * 100)}% of a core)…`)
  }
}
