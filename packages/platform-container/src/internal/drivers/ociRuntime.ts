/**
 * The runc/crun driver. A run is `<runtime> run --bundle B --pid-file P ID`
 * kept in the foreground as a detached child of the adapter: the runtime
 * creates and starts the container, waits for it and exits with its exit
 * status, which is how the adapter learns the daemon's exit code (runc and
 * crun keep no exit status of their own). The container's stdout and stderr
 * are two append-mode log files; the runtime's own messages go to a JSON log
 * whose errors become the PlatformCommandFailed of a failed start. `state`,
 * `kill` and `delete` are the runtime's commands. Nothing restarts a runc
 * container but Duende's DaemonManager.
 *
 * @internal
 */
import { Signal } from "@duende/core"
import { PlatformCommandFailed } from "@duende/core/manager"
import type { AdapterError } from "@duende/core/manager"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { spawn } from "node:child_process"
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync } from "node:fs"
import { join } from "node:path"
import type { ContainerSpec } from "../../ContainerSpec.js"
import * as OciSpec from "../../OciSpec.js"
import { run as runTool, type Tool } from "../command.js"
import type { Driver, Inspection, Lifecycle, Paths } from "../driver.js"
import { writeAtomic } from "../files.js"
import { follow, rotateIfLarge, tailBoth } from "../logFiles.js"

export interface Options {
  readonly kind: "runc" | "crun"
  /** The runtime executable (or a wrapper that execs it). */
  readonly path: string
  /** The runtime's state directory (`--root`). */
  readonly root: string
  readonly env: Readonly<Record<string, string | undefined>>
  /** The init binary bound into containers that ask for one. */
  readonly initPath: string | undefined
  readonly logMaxBytes: number
  readonly poll: Duration.Duration
}

interface RuntimeState {
  readonly status: string
  readonly pid: number
  readonly annotations?: Record<string, string>
}

interface Run {
  readonly startedAt: number
  readonly exited: Deferred.Deferred<number>
}

const notFound = (error: PlatformCommandFailed) => /does not exist|not found|no such file/i.test(error.stderr)

const isLink = (path: string) => {
  try {
    return lstatSync(path).isSymbolicLink()
  } catch {
    return false
  }
}

/** The error lines of the runtime's JSON (or text) log. */
const runtimeErrors = (path: string): string => {
  let text = ""
  try {
    text = readFileSync(path, "utf8")
  } catch {
    return ""
  }
  return text.split("\n").filter((line) => line.trim() !== "").map((line) => {
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string }
      return entry.level === "error" || entry.level === "fatal" ? entry.msg ?? "" : ""
    } catch {
      return line
    }
  }).filter((line) => line !== "").join("\n")
}

export const make = (options: Options): Effect.Effect<Driver, never, Scope.Scope> =>
  Effect.gen(function*() {
    const tool: Tool = { file: options.path, globalArgs: ["--root", options.root], env: options.env }
    const events = yield* Effect.acquireRelease(PubSub.unbounded<Lifecycle>(), PubSub.shutdown)
    const runs = new Map<string, Run>()
    const exits = new Map<string, { readonly code: number; readonly at: number }>()
    /** The annotations of each container started here, for when runc no longer knows it. */
    const annotations = new Map<string, Readonly<Record<string, string>>>()
    // Called from child-process callbacks, possibly after the adapter closed: never throw there.
    const publish = (event: Lifecycle) => void Effect.runFork(PubSub.publish(events, event))
    const logs = new Map<string, Paths>()
    // The container appends to its log files for as long as it runs: keep them bounded.
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(
      Effect.sleep(Duration.seconds(30)),
      Effect.sync(() => {
        for (const paths of logs.values()) {
          rotateIfLarge(paths.stdout, options.logMaxBytes)
          rotateIfLarge(paths.stderr, options.logMaxBytes)
        }
      })
    )))

    const context = (spec: ContainerSpec) =>
      Either.mapLeft(
        OciSpec.context(spec, { initPath: options.initPath }),
        (reason) => new PlatformCommandFailed({ command: [options.path, "run", spec.name], exitCode: null, stderr: reason })
      )

    const state = (name: string): Effect.Effect<RuntimeState | undefined, PlatformCommandFailed> =>
      runTool(tool, ["state", name]).pipe(
        Effect.map((output): RuntimeState | undefined => JSON.parse(output.stdout) as RuntimeState),
        Effect.catchIf(notFound, () => Effect.succeed(undefined))
      )

    const inspect = (name: string): Effect.Effect<Inspection | undefined, AdapterError> =>
      Effect.map(state(name), (found) => {
        const run = runs.get(name)
        const exit = exits.get(name)
        if (found === undefined) {
          return exit === undefined ? undefined : {
            status: "exited" as const,
            pid: undefined,
            startedAt: run?.startedAt,
            exit,
            restarts: 0,
            health: undefined,
            labels: annotations.get(name) ?? {}
          }
        }
        const status = found.status === "running" || found.status === "paused" || found.status === "created"
          ? found.status
          : "exited" as const
        return {
          status,
          pid: status === "exited" || found.pid === 0 ? undefined : found.pid,
          startedAt: run?.startedAt,
          exit: status === "exited" ? exit : undefined,
          restarts: 0,
          health: undefined,
          labels: found.annotations ?? {}
        }
      })

    const prepareBundle = (spec: ContainerSpec, paths: Paths) =>
      Effect.gen(function*() {
        const ctx = yield* context(spec)
        mkdirSync(paths.bundle, { recursive: true, mode: 0o700 })
        if (ctx.host !== undefined) {
          const rootfs = join(paths.bundle, "rootfs")
          mkdirSync(rootfs, { recursive: true, mode: 0o755 })
          for (const [name, target] of ctx.host.links) {
            if (!isLink(join(rootfs, name))) symlinkSync(target, join(rootfs, name))
          }
        }
        yield* writeAtomic(join(paths.bundle, "config.json"), `${JSON.stringify(OciSpec.render(spec, ctx), null, 2)}\n`)
      })

    /** Waits for the pid file (started) or the runtime's exit (failed to start). */
    const awaitStarted = (spec: ContainerSpec, paths: Paths, run: Run, command: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const deadline = (yield* Clock.currentTimeMillis) + 60_000
        while (true) {
          if (existsSync(paths.pidFile)) return
          const exited = yield* Deferred.poll(run.exited)
          if (Option.isSome(exited)) {
            const code = yield* exited.value
            // The runtime may have started the daemon, which then exited at once: that is the daemon's business.
            const errors = runtimeErrors(paths.runtimeLog)
            if (errors !== "" || !existsSync(paths.pidFile)) {
              return yield* new PlatformCommandFailed({ command, exitCode: code, stderr: errors || `exited ${code} before the container started` })
            }
            return
          }
          if ((yield* Clock.currentTimeMillis) > deadline) {
            return yield* new PlatformCommandFailed({ command, exitCode: null, stderr: `${spec.name} did not start within 60s` })
          }
          yield* Effect.sleep(Duration.millis(10))
        }
      })

    const start = (spec: ContainerSpec, paths: Paths, existing: Inspection | undefined): Effect.Effect<void, AdapterError> =>
      Effect.gen(function*() {
        if (existing !== undefined) yield* remove(spec.name)
        yield* prepareBundle(spec, paths)
        rmSync(paths.pidFile, { force: true })
        rmSync(paths.runtimeLog, { force: true })
        rotateIfLarge(paths.stdout, options.logMaxBytes)
        rotateIfLarge(paths.stderr, options.logMaxBytes)
        const args = [
          ...tool.globalArgs,
          "--log",
          paths.runtimeLog,
          "--log-format",
          "json",
          "run",
          "--bundle",
          paths.bundle,
          "--pid-file",
          paths.pidFile,
          "--no-new-keyring",
          spec.name
        ]
        const command = [options.path, ...args]
        const out = openSync(paths.stdout, "a", 0o640)
        const err = openSync(paths.stderr, "a", 0o640)
        const exited = yield* Deferred.make<number>()
        const startedAt = yield* Clock.currentTimeMillis
        const run: Run = { startedAt, exited }
        const spawned = yield* Effect.async<void, PlatformCommandFailed>((resume) => {
          const child = spawn(options.path, args, {
            detached: true,
            stdio: ["ignore", out, err],
            env: options.env as NodeJS.ProcessEnv
          })
          closeSync(out)
          closeSync(err)
          child.once("error", (error) =>
            resume(Effect.fail(new PlatformCommandFailed({ command, exitCode: null, stderr: error.message }))))
          child.once("spawn", () => {
            child.unref()
            resume(Effect.void)
          })
          child.once("exit", (code, signal) => {
            const status = code ?? 128 + (signal ? Signal.toNumber(signal as Signal.Signal) : 0)
            const at = Date.now()
            exits.set(spec.name, { code: status, at })
            logs.delete(spec.name)
            publish({ _tag: "Died", name: spec.name, code: status, at })
            Effect.runSync(Deferred.succeed(exited, status))
          })
        }).pipe(Effect.either)
        if (Either.isLeft(spawned)) return yield* spawned.left
        runs.set(spec.name, run)
        annotations.set(spec.name, spec.labels)
        logs.set(spec.name, paths)
        exits.delete(spec.name)
        yield* awaitStarted(spec, paths, run, command)
        publish({ _tag: "Started", name: spec.name, at: yield* Clock.currentTimeMillis })
      })

    const kill = (name: string, signal: Signal.Signal) =>
      Effect.asVoid(runTool(tool, ["kill", name, String(Signal.toNumber(signal))]))

    /** Waits until the container no longer runs, up to `ms`; true when it ended. */
    const awaitEnd = (name: string, ms: number) =>
      Effect.gen(function*() {
        const run = runs.get(name)
        const end = (yield* Clock.currentTimeMillis) + ms
        while ((yield* Clock.currentTimeMillis) < end) {
          if (run !== undefined && (yield* Deferred.isDone(run.exited))) return true
          const found = yield* state(name)
          if (found === undefined || found.status === "stopped") {
            if (run === undefined || (yield* Deferred.isDone(run.exited))) return true
          }
          yield* Effect.sleep(Duration.millis(25))
        }
        return false
      })

    const stop = (name: string, timeout: Duration.Duration): Effect.Effect<void, AdapterError> =>
      Effect.gen(function*() {
        const found = yield* state(name)
        if (found === undefined || found.status === "stopped") return
        if (found.status === "paused") yield* kill(name, "SIGCONT").pipe(Effect.ignore)
        yield* kill(name, "SIGTERM").pipe(Effect.catchIf(notFound, () => Effect.void))
        if (yield* awaitEnd(name, Duration.toMillis(timeout))) return
        yield* runTool(tool, ["kill", "--all", name, "KILL"]).pipe(Effect.catchIf(notFound, () => Effect.void))
        yield* awaitEnd(name, 10_000)
      })

    const remove = (name: string): Effect.Effect<void, AdapterError> =>
      Effect.asVoid(runTool(tool, ["delete", "--force", name]).pipe(Effect.catchIf(notFound, () => Effect.void)))

    const driver: Driver = {
      kind: options.kind,
      restarts: "manager",
      render: (spec, paths) =>
        Effect.map(
          context(spec),
          (ctx) => ({
            name: "config.json",
            kind: `OCI runtime spec (${options.kind} bundle${paths ? ` ${paths.bundle}` : ""})`,
            content: `${JSON.stringify(OciSpec.render(spec, ctx), null, 2)}\n`
          })
        ),
      start,
      inspect,
      kill,
      stop,
      remove,
      logs: (_, paths, lines) => Effect.sync(() => tailBoth(paths.stdout, paths.stderr, lines)),
      follow: (_, paths) => follow([["stdout", paths.stdout], ["stderr", paths.stderr]], options.poll),
      lifecycle: Effect.map(PubSub.subscribe(events), Stream.fromQueue)
    }
    return driver
  })
