/**
 * Samples the resource use of a process or of a whole process tree: cpu %
 * and cpu time, resident and virtual memory, threads, open fds, io bytes and
 * state. A long-lived sampler keeps the previous sample of each target and
 * computes cpu % from the cpu time used since then, over the time Effect's
 * Clock says has passed; the first sample of a target has no cpu % yet.
 *
 * cpu % is relative to one core: a process keeping two cores busy shows 200.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { treeOf } from "./internal/tree.js"
import * as ProcessSource from "./ProcessSource.js"
import { ProcessNotFound, type SamplingError } from "./SamplingError.js"

/**
 * A sample of one process, or the sum over a process tree (then `pid`,
 * `command`, `state` and `startedAt` are the root's).
 *
 * @since 0.1.0
 */
export interface ProcessSample {
  readonly pid: number
  /** The processes summed: `[pid]` for one process, the tree's members otherwise. */
  readonly pids: ReadonlyArray<number>
  readonly command: string
  /** R running, S sleeping, D disk wait, Z zombie, T stopped, I idle… */
  readonly state: string
  /** Epoch ms. */
  readonly startedAt: number | undefined
  /**
   * CPU time (user + system) so far. For a tree it also counts the children
   * its members waited for, so work of short-lived children is not lost.
   */
  readonly cpuSeconds: number
  /** CPU % (of one core) since the previous sample of the same target; undefined on the first. */
  readonly cpuPercent: number | undefined
  readonly residentBytes: number
  readonly virtualBytes: number
  readonly threads: number | undefined
  readonly openFds: number | undefined
  /** Bytes read through any read syscall (files, pipes, sockets). */
  readonly ioReadBytes: number | undefined
  /** Bytes written through any write syscall. */
  readonly ioWriteBytes: number | undefined
  /** Bytes fetched from storage. */
  readonly diskReadBytes: number | undefined
  /** Bytes sent to storage. */
  readonly diskWriteBytes: number | undefined
  /** When the sample was taken (epoch ms, from Clock). */
  readonly sampledAt: number
}

/**
 * The sampler.
 *
 * @since 0.1.0
 */
export interface ProcessSampler {
  /** One process. */
  readonly sample: (pid: number) => Effect.Effect<ProcessSample, SamplingError>
  /**
   * The tree rooted at `pid`: its descendants and, when it leads a session,
   * every process of that session (children that were re-parented after their
   * parent died stay counted). The sampling process itself is left out.
   */
  readonly sampleTree: (pid: number) => Effect.Effect<ProcessSample, SamplingError>
  /**
   * Several trees at once, reading the process table once: what a supervisor
   * calls for all its daemons. Roots that are gone are left out of the result.
   */
  readonly sampleTrees: (pids: ReadonlyArray<number>) => Effect.Effect<ReadonlyMap<number, ProcessSample>, SamplingError>
  /** Drops what the sampler remembers about `pid` (when its daemon is removed). */
  readonly forget: (pid: number) => Effect.Effect<void>
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { ProcessSampler } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const cpu = (pid: number) =>
 *   Effect.map(Effect.flatMap(ProcessSampler.ProcessSampler, (sampler) => sampler.sampleTree(pid)), (s) => s.cpuPercent)
 * ```
 *
 * @since 0.1.0
 */
export const ProcessSampler: Context.Tag<ProcessSampler, ProcessSampler> = Context.GenericTag<ProcessSampler>(
  "@duende/observe/ProcessSampler"
)

/**
 * Sampler settings.
 *
 * @since 0.1.0
 */
export interface Options {
  /**
   * The shortest interval cpu % is computed over (default 500 ms). A sample
   * sooner than that after the previous one repeats the previous cpu % and
   * keeps the older baseline, so frequent callers do not get noisy values
   * (cpu time has a 10 ms resolution).
   */
  readonly minInterval?: Duration.DurationInput
  /** Baselines of targets not sampled for this long are dropped (default 10 minutes). */
  readonly retention?: Duration.DurationInput
}

interface Member {
  readonly cpu: number
  readonly ppid: number
  readonly startedAt: number | undefined
}

interface Baseline {
  readonly atNanos: bigint
  readonly rootStartedAt: number | undefined
  readonly members: ReadonlyMap<number, Member>
  readonly percent: number | undefined
}

/** Start times from `ps` are derived from elapsed seconds: allow for that. */
const sameStart = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || Math.abs(a - b) < 2_000

const sum = (readings: ReadonlyArray<ProcessSource.Reading>, pick: (reading: ProcessSource.Reading) => number | undefined) => {
  let total: number | undefined
  for (const reading of readings) {
    const value = pick(reading)
    if (value !== undefined) total = (total ?? 0) + value
  }
  return total
}

/**
 * A sampler reading from the {@link ProcessSource} in context.
 *
 * @example
 * ```ts
 * import { ProcessSampler, ProcessSource } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const sampler = yield* ProcessSampler.make()
 *   yield* sampler.sampleTree(process.pid)
 *   yield* Effect.sleep("1 second")
 *   const sample = yield* sampler.sampleTree(process.pid)
 *   return `${sample.cpuPercent?.toFixed(1)} % cpu, ${sample.residentBytes} bytes`
 * }).pipe(Effect.provide(ProcessSource.layer))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<ProcessSampler, never, ProcessSource.ProcessSource> =>
  Effect.gen(function*() {
    const source = yield* ProcessSource.ProcessSource
    const minIntervalNanos = BigInt(Math.round(Duration.toMillis(Duration.decode(options.minInterval ?? "500 millis")) * 1e6))
    const retentionNanos = BigInt(Math.round(Duration.toMillis(Duration.decode(options.retention ?? "10 minutes")) * 1e6))
    const baselines = new Map<string, Baseline>()

    const sweep = (now: bigint) => {
      for (const [key, baseline] of baselines) if (now - baseline.atNanos > retentionNanos) baselines.delete(key)
    }

    const measure = (key: string, pid: number, tree: boolean, readings: ReadonlyArray<ProcessSource.Reading>) =>
      Effect.gen(function*() {
        const root = readings.find((reading) => reading.pid === pid)
        if (root === undefined) {
          baselines.delete(key)
          return yield* new ProcessNotFound({ pid })
        }
        const now = yield* Clock.currentTimeNanos
        sweep(now)
        const total = (reading: ProcessSource.Reading) => reading.cpuSeconds + (tree ? reading.childrenCpuSeconds ?? 0 : 0)
        const previous = baselines.get(key)
        let percent: number | undefined
        if (previous !== undefined && sameStart(previous.rootStartedAt, root.startedAt)) {
          const elapsedNanos = now - previous.atNanos
          if (elapsedNanos < minIntervalNanos) {
            return summarize(pid, root, readings, total, previous.percent, now)
          }
          const windowStart = Number(previous.atNanos / 1_000_000n)
          let used = 0
          const alive = new Set<number>()
          for (const reading of readings) {
            alive.add(reading.pid)
            const before = previous.members.get(reading.pid)
            if (before !== undefined && sameStart(before.startedAt, reading.startedAt)) used += total(reading) - before.cpu
            else if (reading.startedAt !== undefined && reading.startedAt >= windowStart - 10) used += total(reading)
          }
          // A member that ended and was waited for by a living member now shows in
          // that member's children time with all its cpu: take off what was already counted.
          for (const [member, before] of previous.members) {
            if (!alive.has(member) && alive.has(before.ppid)) used -= before.cpu
          }
          percent = (Math.max(0, used) / (Number(elapsedNanos) / 1e9)) * 100
        }
        baselines.set(key, {
          atNanos: now,
          rootStartedAt: root.startedAt,
          members: new Map(readings.map((r) => [r.pid, { cpu: total(r), ppid: r.ppid, startedAt: r.startedAt }])),
          percent
        })
        return summarize(pid, root, readings, total, percent, now)
      })

    return {
      sample: (pid) => Effect.flatMap(source.read([pid]), (readings) => measure(`pid:${pid}`, pid, false, readings)),
      sampleTree: (pid) =>
        Effect.gen(function*() {
          const rows = yield* source.table
          const members = treeOf(pid, rows, process.pid)
          const readings = yield* source.read(members)
          return yield* measure(`tree:${pid}`, pid, true, readings)
        }),
      sampleTrees: (pids) =>
        Effect.gen(function*() {
          const rows = yield* source.table
          const trees = pids.map((pid) => ({ pid, members: treeOf(pid, rows, process.pid) }))
          const readings = yield* source.read([...new Set(trees.flatMap((tree) => tree.members))])
          const byPid = new Map(readings.map((reading) => [reading.pid, reading]))
          const samples = new Map<number, ProcessSample>()
          for (const tree of trees) {
            const mine = tree.members.flatMap((member) => byPid.get(member) ?? [])
            const measured = yield* Effect.either(measure(`tree:${tree.pid}`, tree.pid, true, mine))
            if (measured._tag === "Right") samples.set(tree.pid, measured.right)
            else if (measured.left._tag !== "ProcessNotFound") return yield* Effect.fail(measured.left)
          }
          return samples as ReadonlyMap<number, ProcessSample>
        }),
      forget: (pid) =>
        Effect.sync(() => {
          baselines.delete(`pid:${pid}`)
          baselines.delete(`tree:${pid}`)
        })
    }
  })

const summarize = (
  pid: number,
  root: ProcessSource.Reading,
  readings: ReadonlyArray<ProcessSource.Reading>,
  total: (reading: ProcessSource.Reading) => number,
  cpuPercent: number | undefined,
  nowNanos: bigint
): ProcessSample => ({
  pid,
  pids: readings.map((reading) => reading.pid),
  command: root.command,
  state: root.state,
  startedAt: root.startedAt,
  cpuSeconds: sum(readings, total) ?? 0,
  cpuPercent,
  residentBytes: sum(readings, (r) => r.residentBytes) ?? 0,
  virtualBytes: sum(readings, (r) => r.virtualBytes) ?? 0,
  threads: sum(readings, (r) => r.threads),
  openFds: sum(readings, (r) => r.openFds),
  ioReadBytes: sum(readings, (r) => r.ioReadBytes),
  ioWriteBytes: sum(readings, (r) => r.ioWriteBytes),
  diskReadBytes: sum(readings, (r) => r.diskReadBytes),
  diskWriteBytes: sum(readings, (r) => r.diskWriteBytes),
  sampledAt: Number(nowNanos / 1_000_000n)
})

/**
 * A sampler on this machine's process source (/proc, else `ps`).
 *
 * @example
 * ```ts
 * import { ProcessSampler } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const rss = Effect.map(
 *   Effect.flatMap(ProcessSampler.ProcessSampler, (sampler) => sampler.sample(process.pid)),
 *   (sample) => sample.residentBytes
 * ).pipe(Effect.provide(ProcessSampler.layer()))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options?: Options): Layer.Layer<ProcessSampler> =>
  Layer.effect(ProcessSampler, make(options)).pipe(Layer.provide(ProcessSource.layer))
