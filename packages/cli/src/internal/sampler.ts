/**
 * CPU and memory of a daemon's process tree from /proc: RSS summed over the
 * tree, CPU % from the change in user+system time between two samples.
 *
 * @internal
 */
import { readFileSync } from "node:fs"

const ticksPerSecond = 100 // USER_HZ on every Linux architecture Node supports
const pageSize = 4096

interface Sample {
  readonly at: number
  readonly ticks: number
}

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

/** user+system ticks and resident pages of one process. */
const usage = (pid: number): { ticks: number; rssBytes: number } | undefined => {
  const stat = read(`/proc/${pid}/stat`)
  if (stat === undefined) return undefined
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  // after "pid (comm) ": state=0 ppid=1 … utime=11 stime=12 … rss=21
  return { ticks: Number(fields[11]) + Number(fields[12]), rssBytes: Number(fields[21]) * pageSize }
}

export class Sampler {
  private readonly previous = new Map<number, Sample>()

  /** Samples the tree rooted at `pid` (the root and the given members). */
  sample(root: number, members: ReadonlyArray<number>, now: number): { cpuPercent: number | null; memoryBytes: number } {
    let ticks = 0
    let rss = 0
    for (const pid of new Set([root, ...members])) {
      const u = usage(pid)
      if (u === undefined) continue
      ticks += u.ticks
      rss += u.rssBytes
    }
    const before = this.previous.get(root)
    this.previous.set(root, { at: now, ticks })
    const cpuPercent = before === undefined || now <= before.at
      ? null
      : Math.max(0, ((ticks - before.ticks) / ticksPerSecond) / ((now - before.at) / 1000) * 100)
    return { cpuPercent, memoryBytes: rss }
  }

  forget(root: number): void {
    this.previous.delete(root)
  }
}
