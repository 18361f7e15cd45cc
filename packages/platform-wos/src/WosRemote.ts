/**
 * Core's `PlatformAdapter` on a kernel in another process: one that
 * `wos-ctl boot` runs, reached through its socket. What the adapter must
 * remember between commands (the config, the pid of the current run, how the
 * last run ended) is a JSON record per daemon in a state directory, so that
 * `duende install`, `duende start` and `duende status --platform wos` can be
 * separate processes. Readiness, exits, logs and events are read by polling
 * the kernel (every 25 ms).
 *
 * @since 0.1.0
 */
import { DaemonConfig, DaemonId, DaemonStatus, Signal } from "@duende/core"
import {
  AdapterIOError,
  DaemonAlreadyRunning,
  DaemonNotFound,
  OperationUnsupported,
  type PlatformAdapter,
  PlatformCommandFailed,
  type PlatformModule,
  StartFailed
} from "@duende/core/manager"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as NodeWosHost from "./NodeWosHost.js"
import { artifact, exitInfo, spawnRequest } from "./WosAdapter.js"
import * as WosCtl from "./WosCtl.js"
import { fromNumber, numbers } from "./WosSignal.js"

/**
 * Where the kernel listens, and where the records of installed daemons live.
 *
 * @example
 * ```ts
 * import type { WosRemote } from "@duende/platform-wos/adapter"
 *
 * const options: WosRemote.Options = { socket: "/tmp/wos.sock", stateDirectory: "/var/lib/duende/wos" }
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  readonly socket: string
  readonly stateDirectory: string
}

interface Record_ {
  readonly id: string
  readonly config: DaemonConfig.Input
  readonly pid?: number | undefined
  /** The pid of the last run, whose logs the kernel keeps after it ended. */
  readonly lastPid?: number | undefined
  readonly startedAt?: number | undefined
  readonly stopping?: boolean | undefined
  readonly failed?: string | undefined
  readonly lastExit?: PlatformAdapter.ExitInfo | undefined
}

interface KernelStatus {
  readonly pid: number
  readonly state: { readonly _tag: string }
  readonly reportsReady: boolean
  readonly ready: boolean
  readonly healthy: boolean | undefined
  readonly exit?: NodeWosHost.ExitInfo
}

const POLL = Duration.millis(25)

/**
 * The adapter, on the kernel listening on `options.socket`.
 *
 * @example
 * ```ts
 * import { WosRemote } from "@duende/platform-wos/adapter"
 * import { Effect } from "effect"
 *
 * const status = Effect.flatMap(WosRemote.make({ socket: "/tmp/wos.sock", stateDirectory: "/tmp/duende/wos" }), (adapter) =>
 *   Effect.flatMap(adapter.find("api"), adapter.status))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<PlatformModule.Adapter> =>
  Effect.sync(() => {
    const fileOf = (name: string) => join(options.stateDirectory, `${name}.json`)
    const read = (name: string) =>
      Effect.try({
        try: () => JSON.parse(readFileSync(fileOf(name), "utf8")) as Record_,
        catch: () => new DaemonNotFound({ name, platform: "wos" })
      })
    const write = (name: string, record: Record_) =>
      Effect.try({
        try: () => {
          mkdirSync(options.stateDirectory, { recursive: true })
          writeFileSync(`${fileOf(name)}.tmp`, JSON.stringify(record))
          renameSync(`${fileOf(name)}.tmp`, fileOf(name))
        },
        catch: (error) => new AdapterIOError({ path: fileOf(name), reason: (error as Error).message })
      })
    const update = (name: string, change: (record: Record_) => Record_) =>
      Effect.flatMap(read(name), (record) => Effect.as(write(name, change(record)), change(record)))
    const ctl = (request: WosCtl.Request) =>
      Effect.mapError(WosCtl.call(options.socket, request), (error) =>
        new PlatformCommandFailed({ command: ["wos-ctl", request._tag], exitCode: null, stderr: error.message }))
    const kernelStatus = (pid: number) => Effect.map(ctl({ _tag: "status", pid }), (s) => s as KernelStatus)
    const configOf = (record: Record_, name: string) =>
      Effect.mapError(DaemonConfig.decode(record.config, fileOf(name)), (error) =>
        new AdapterIOError({ path: fileOf(name), reason: error.message }))

    /** The record with its run's end written down, if the kernel says it ended. */
    const settle = (name: string) =>
      Effect.gen(function*() {
        const record = yield* read(name)
        if (record.pid === undefined) return { record, kernel: undefined }
        const kernel = yield* kernelStatus(record.pid)
        if (kernel.exit === undefined) return { record, kernel }
        const lastExit = exitInfo(kernel.exit)
        const clean = record.stopping === true || (kernel.exit.code === 0 && kernel.exit.signal === undefined)
        const settled: Record_ = {
          ...record,
          pid: undefined,
          lastPid: record.pid,
          startedAt: undefined,
          stopping: undefined,
          lastExit,
          failed: clean ? undefined : lastExit.description
        }
        yield* write(name, settled)
        return { record: settled, kernel: undefined }
      })

    const status = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.map(settle(handle.name), ({ kernel, record }): PlatformAdapter.DaemonState => ({
        status: kernel === undefined
          ? record.failed !== undefined
            ? DaemonStatus.Failed({ reason: record.failed })
            : record.lastExit === undefined
            ? DaemonStatus.Created()
            : DaemonStatus.Stopped()
          : record.stopping === true
          ? DaemonStatus.Stopping()
          : kernel.ready || !kernel.reportsReady
          ? DaemonStatus.Running()
          : DaemonStatus.Starting(),
        pid: kernel?.pid,
        startedAt: record.startedAt,
        lastExit: record.lastExit,
        restarts: 0,
        statusText: undefined,
        health: kernel?.healthy === undefined ? undefined : kernel.healthy ? "healthy" : "unhealthy"
      }))

    /** Polls until the run of `pid` ended, at most `timeout`; whether it did. */
    const ended = (name: string, timeout: Duration.Duration) =>
      Effect.gen(function*() {
        const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(timeout)
        for (;;) {
          const { kernel } = yield* settle(name)
          if (kernel === undefined) return true
          if ((yield* Clock.currentTimeMillis) >= deadline) return false
          yield* Effect.sleep(POLL)
        }
      })

    const start = (handle: PlatformAdapter.DaemonHandle) =>
      Effect.gen(function*() {
        const { kernel, record } = yield* settle(handle.name)
        if (kernel !== undefined) return yield* new DaemonAlreadyRunning({ name: handle.name, pid: kernel.pid })
        const config = yield* configOf(record, handle.name)
        const failed = (reason: string) =>
          Effect.zipRight(
            update(handle.name, (r) => ({ ...r, failed: reason })),
            Effect.fail(new StartFailed({ name: handle.name, reason }))
          )
        const spawned = yield* Effect.either(ctl({ _tag: "spawn", request: spawnRequest(config).request }))
        if (spawned._tag === "Left") return yield* failed(spawned.left.stderr)
        const pid = (spawned.right as { pid: number }).pid
        yield* write(handle.name, { ...record, pid, startedAt: yield* Clock.currentTimeMillis, stopping: undefined, failed: undefined })
        const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(config.initTimeout)
        for (;;) {
          const now = yield* settle(handle.name)
          if (now.kernel === undefined) {
            return yield* failed(`exited before it was ready: ${now.record.lastExit?.description ?? "?"}`)
          }
          if (now.kernel.ready || !now.kernel.reportsReady) return
          if ((yield* Clock.currentTimeMillis) >= deadline) {
            yield* ctl({ _tag: "signal", pid, signal: numbers.KILL })
            yield* ended(handle.name, Duration.seconds(5))
            return yield* failed(`not ready within ${Duration.format(config.initTimeout)}`)
          }
          yield* Effect.sleep(POLL)
        }
      })

    const stop = (handle: PlatformAdapter.DaemonHandle, timeout: Duration.Duration) =>
      Effect.gen(function*() {
        const { record } = yield* settle(handle.name)
        if (record.pid === undefined) return
        yield* write(handle.name, { ...record, stopping: true })
        yield* Effect.ignore(ctl({ _tag: "signal", pid: record.pid, signal: numbers.TERM }))
        if (yield* ended(handle.name, timeout)) return
        yield* Effect.ignore(ctl({ _tag: "signal", pid: record.pid, signal: numbers.KILL }))
        yield* ended(handle.name, Duration.seconds(5))
      })

    const running = (handle: PlatformAdapter.DaemonHandle, what: string) =>
      Effect.flatMap(settle(handle.name), ({ kernel }) =>
        kernel === undefined
          ? Effect.fail(new StartFailed({ name: handle.name, reason: `not running: cannot ${what}` }))
          : Effect.succeed(kernel.pid))

    const logs = (handle: PlatformAdapter.DaemonHandle, logOptions?: { readonly lines?: number }) =>
      Effect.gen(function*() {
        const record = yield* read(handle.name)
        const pid = record.pid ?? record.lastPid
        if (pid === undefined) return []
        const lines = (yield* ctl({ _tag: "logs", pid })) as ReadonlyArray<PlatformAdapter.LogLine>
        return logOptions?.lines === undefined ? lines : lines.slice(-logOptions.lines)
      })

    /** A stream polled from the kernel every 25 ms: `step` gives what is new since the last poll. */
    const polled = <S, A>(initial: S, step: (state: S) => Effect.Effect<readonly [ReadonlyArray<A>, S], unknown>) =>
      Stream.paginateChunkEffect(initial, (state) =>
        Effect.zipLeft(
          Effect.map(Effect.orElseSucceed(step(state), () => [[], state] as const), ([items, next]) =>
            [Chunk.fromIterable(items), Option.some(next)] as const),
          Effect.sleep(POLL)
        ))

    const adapter: PlatformModule.Adapter = {
      platform: "wos",
      restarts: "manager",
      render: (config) => Effect.succeed([artifact(config)]),
      install: (config, id) =>
        Effect.gen(function*() {
          const existing = yield* Effect.option(read(config.name))
          const handle: PlatformAdapter.DaemonHandle = {
            id: id ?? (Option.isSome(existing) ? existing.value.id as DaemonId.DaemonId : DaemonId.random()),
            name: config.name,
            platform: "wos",
            ref: ""
          }
          const input = yield* DaemonConfig.encode(config)
          yield* write(config.name, { ...Option.getOrElse(existing, () => ({})), id: handle.id, config: input })
          return handle
        }),
      start,
      stop,
      restart: (handle, timeout) => Effect.zipRight(stop(handle, timeout), start(handle)),
      reload: () =>
        Effect.fail(new OperationUnsupported({ operation: "reload", platform: "wos", hint: "WOS has no HUP" })),
      signal: (handle, sig) =>
        Effect.gen(function*() {
          const number = fromNumber(Signal.toNumber(sig))
          if (number === undefined) {
            return yield* new OperationUnsupported({ operation: `send ${sig}`, platform: "wos" })
          }
          const pid = yield* running(handle, `send ${sig}`)
          yield* ctl({ _tag: "signal", pid, signal: number })
        }),
      status,
      logs,
      followLogs: (handle) =>
        Effect.gen(function*() {
          const seen = (yield* logs(handle)).length
          const current = yield* read(handle.name)
          const initial = { pid: current.pid ?? current.lastPid, seen }
          return polled(initial, (state) =>
            Effect.gen(function*() {
              const record = yield* read(handle.name)
              const pid = record.pid ?? record.lastPid
              if (pid === undefined) return [[], state] as const
              const lines = (yield* ctl({ _tag: "logs", pid })) as ReadonlyArray<PlatformAdapter.LogLine>
              const from = pid === state.pid ? state.seen : 0
              return [lines.slice(from), { pid, seen: lines.length }] as const
            }))
        }),
      events: (handle) =>
        Effect.gen(function*() {
          const initial = yield* status(handle)
          return polled(initial, (before) =>
            Effect.map(Effect.zip(status(handle), Clock.currentTimeMillis), ([now, at]) => {
              const events: Array<PlatformAdapter.DaemonEvent> = []
              if (now.pid !== undefined && now.pid !== before.pid) events.push({ _tag: "Started", pid: now.pid, at })
              if (now.status._tag === "Running" && before.status._tag !== "Running") events.push({ _tag: "Ready", at })
              if (now.status._tag === "Stopping" && before.status._tag !== "Stopping") events.push({ _tag: "Stopping", at })
              if (now.lastExit !== undefined && now.lastExit.at !== before.lastExit?.at) {
                events.push({ _tag: "Exited", exit: now.lastExit })
              }
              return [events, now] as const
            }))
        }),
      uninstall: (handle) =>
        Effect.gen(function*() {
          const record = yield* read(handle.name)
          const config = yield* configOf(record, handle.name)
          yield* stop(handle, config.shutdownTimeout)
          yield* Effect.sync(() => rmSync(fileOf(handle.name), { force: true }))
        }),
      find: (name) =>
        Effect.map(read(name), (record): PlatformAdapter.DaemonHandle => ({
          id: record.id as DaemonId.DaemonId,
          name,
          platform: "wos",
          ref: record.pid === undefined ? "" : String(record.pid)
        }))
    }
    return adapter
  })
