/**
 * Where process readings come from: Linux /proc (every field), or `ps` where
 * there is no /proc (macOS, the BSDs: memory, cpu time, state and start time;
 * no threads, fds or io). {@link ProcessSampler} turns readings into samples.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import * as procfs from "./internal/procfs.js"
import * as ps from "./internal/ps.js"
import { SamplingFailed } from "./SamplingError.js"

/**
 * One reading of one process. Fields a source cannot read are undefined.
 *
 * @since 0.1.0
 */
export interface Reading {
  readonly pid: number
  readonly ppid: number
  /** The session id (Linux). */
  readonly sid: number | undefined
  /** The executable's name as the kernel keeps it (15 characters on Linux). */
  readonly command: string
  /** R running, S sleeping, D disk wait, Z zombie, T stopped, I idle… */
  readonly state: string
  /** Epoch ms. */
  readonly startedAt: number | undefined
  /** User + system CPU time of the process itself. */
  readonly cpuSeconds: number
  /** User + system CPU time of its children that ended and were waited for. */
  readonly childrenCpuSeconds: number | undefined
  readonly residentBytes: number
  readonly virtualBytes: number
  readonly threads: number | undefined
  readonly openFds: number | undefined
  /** Bytes read through any read syscall (files, pipes, sockets), cache hits included. */
  readonly ioReadBytes: number | undefined
  /** Bytes written through any write syscall. */
  readonly ioWriteBytes: number | undefined
  /** Bytes the process caused to be fetched from storage. */
  readonly diskReadBytes: number | undefined
  /** Bytes the process caused to be sent to storage. */
  readonly diskWriteBytes: number | undefined
}

/**
 * One row of the process table: enough to find a process tree.
 *
 * @since 0.1.0
 */
export interface TableRow {
  readonly pid: number
  readonly ppid: number
  readonly sid: number | undefined
  readonly state: string
}

/**
 * A source of readings.
 *
 * @since 0.1.0
 */
export interface ProcessSource {
  readonly kind: "procfs" | "ps"
  /** Readings of the given pids; a pid that is gone is left out. */
  readonly read: (pids: ReadonlyArray<number>) => Effect.Effect<ReadonlyArray<Reading>, SamplingFailed>
  /** Every process visible now. */
  readonly table: Effect.Effect<ReadonlyArray<TableRow>, SamplingFailed>
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { ProcessSource } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const kind = Effect.map(ProcessSource.ProcessSource, (source) => source.kind) // "procfs" on Linux
 * ```
 *
 * @since 0.1.0
 */
export const ProcessSource: Context.Tag<ProcessSource, ProcessSource> = Context.GenericTag<ProcessSource>(
  "@duende/observe/ProcessSource"
)

/**
 * Readings from Linux /proc.
 *
 * @example
 * ```ts
 * import { ProcessSource } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const self = Effect.flatMap(ProcessSource.ProcessSource, (source) => source.read([process.pid])).pipe(
 *   Effect.provide(ProcessSource.layerProcfs)
 * )
 * ```
 *
 * @since 0.1.0
 */
export const procfsSource: ProcessSource = {
  kind: "procfs",
  read: (pids) =>
    Effect.map(
      inChunks(pids, (pid) => procfs.read(pid)),
      (readings) => readings.filter((reading): reading is Reading => reading !== undefined)
    ),
  table: Effect.flatMap(Effect.sync(procfs.processNames), (names) =>
    Effect.map(inChunks(names, procfs.row), (rows) => rows.filter((row): row is TableRow => row !== undefined)))
}

/** A real turn of the event loop (not a Clock sleep: it works the same under TestClock). */
const turn = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * Reads /proc entries synchronously (fast: the kernel makes them on read) but
 * gives the event loop a turn every 64 processes, so sampling thousands of
 * processes never stalls the process that samples (a supervisor).
 */
const inChunks = <A, B>(items: ReadonlyArray<A>, f: (item: A) => B): Effect.Effect<ReadonlyArray<B>> =>
  Effect.gen(function*() {
    const out: Array<B> = []
    for (let i = 0; i < items.length; i++) {
      if (i > 0 && i % 64 === 0) yield* turn
      out.push(f(items[i]!))
    }
    return out
  })

const runPs = (args: ReadonlyArray<string>): Effect.Effect<string, SamplingFailed> =>
  Effect.async<string, SamplingFailed>((resume, signal) => {
    execFile("ps", args, { signal, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) return resume(Effect.succeed(stdout))
      // ps exits 1 when none of the pids exists: that is an empty answer.
      if (error.code === 1 && stderr.trim() === "") return resume(Effect.succeed(stdout))
      resume(Effect.fail(new SamplingFailed({ source: "ps", reason: stderr.trim() || error.message })))
    })
  })

/**
 * Readings from `ps`: the fallback where there is no /proc.
 *
 * @example
 * ```ts
 * import { ProcessSource } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const self = Effect.flatMap(ProcessSource.ProcessSource, (source) => source.read([process.pid])).pipe(
 *   Effect.provide(ProcessSource.layerPs)
 * )
 * ```
 *
 * @since 0.1.0
 */
export const psSource: ProcessSource = {
  kind: "ps",
  read: (pids) =>
    pids.length === 0
      ? Effect.succeed([])
      : Effect.flatMap(
        runPs(["-o", ps.readingColumns, "-p", pids.join(",")]),
        (output) => Effect.map(Clock.currentTimeMillis, (now) => ps.parseReadings(output, now))
      ),
  table: Effect.map(runPs(["-A", "-o", ps.tableColumns]), ps.parseTable)
}

/**
 * The /proc source.
 *
 * @example
 * ```ts
 * import { ProcessSampler, ProcessSource } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const sampler = ProcessSampler.make().pipe(Effect.provide(ProcessSource.layerProcfs))
 * ```
 *
 * @since 0.1.0
 */
export const layerProcfs: Layer.Layer<ProcessSource> = Layer.succeed(ProcessSource, procfsSource)

/**
 * The `ps` source.
 *
 * @example
 * ```ts
 * import { ProcessSampler, ProcessSource } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const sampler = ProcessSampler.make().pipe(Effect.provide(ProcessSource.layerPs))
 * ```
 *
 * @since 0.1.0
 */
export const layerPs: Layer.Layer<ProcessSource> = Layer.succeed(ProcessSource, psSource)

/**
 * /proc where it exists, else `ps`.
 *
 * @example
 * ```ts
 * import { ProcessSource } from "@duende/observe/manager"
 *
 * const source = ProcessSource.layer
 * ```
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<ProcessSource> = Layer.sync(
  ProcessSource,
  () => (existsSync("/proc/self/stat") ? procfsSource : psSource)
)
