/**
 * The podman driver, through its CLI (argv arrays, no shell): `run --detach`
 * with the arguments of `RunArgs`, `inspect`, `kill`, `stop` (so the restart
 * policy does not restart a container the user stopped), `rm`, `logs` with
 * timestamps (stdout and stderr come back on podman's own stdout and stderr),
 * and one `podman events` process for every start and death. Podman restarts
 * containers itself (`--restart`).
 *
 * Podman schedules healthchecks with systemd timers; where there is no
 * systemd (a CI container, a minimal host) the driver can run `podman
 * healthcheck run` itself at the healthcheck's interval.
 *
 * @internal
 */
import type { Signal } from "@duende/core"
import { PlatformCommandFailed } from "@duende/core/manager"
import type { AdapterError, PlatformAdapter } from "@duende/core/manager"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type ContainerSpec, stopSeconds } from "../../ContainerSpec.js"
import * as RunArgs from "../../RunArgs.js"
import { run as runTool, type Tool } from "../command.js"
import type { Driver, Inspection, Lifecycle } from "../driver.js"
import { lines } from "../lineProcess.js"
import { recent } from "../recent.js"
import { followAcrossRuns, fromInspect, mergeLines, parseTime, timestamped } from "./engineState.js"

export interface Options {
  readonly path: string
  /** Global options before the subcommand (--root, --runroot, --url…). */
  readonly globalArgs: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string | undefined>>
  /** `--init-path` for containers that ask for an init. */
  readonly initPath: string | undefined
  /** "adapter": run `podman healthcheck run` at each interval (no systemd timers); "engine": podman's timers. */
  readonly healthchecks: "engine" | "adapter"
  readonly poll: Duration.Duration
}

const notFound = (error: PlatformCommandFailed) => /no such container|no container with name|does not exist/i.test(error.stderr)

export const make = (options: Options): Effect.Effect<Driver, never, Scope.Scope> =>
  Effect.gen(function*() {
    const tool: Tool = { file: options.path, globalArgs: options.globalArgs, env: options.env }
    const scope = yield* Effect.scope
    const events = yield* Effect.acquireRelease(PubSub.unbounded<Lifecycle>(), PubSub.shutdown)
    const healthLoops = new Map<string, Fiber.RuntimeFiber<void>>()

    // One `podman events` for the adapter's life, restarted from the last event seen if it ends.
    const seen = recent()
    let since = new Date(yield* Clock.currentTimeMillis).toISOString()
    const onEvent = (line: string) => {
      let event: { Status?: string; Name?: string; Time?: string; ContainerExitCode?: number; Type?: string }
      try {
        event = JSON.parse(line)
      } catch {
        return
      }
      const at = parseTime(event.Time) ?? Date.now()
      if (event.Time !== undefined) since = event.Time
      if (event.Type !== undefined && event.Type !== "container") return
      if (event.Name === undefined || seen(`${event.Time} ${event.Status} ${event.Name}`)) return
      if (event.Status === "start") void Effect.runFork(PubSub.publish(events, { _tag: "Started", name: event.Name, at }))
      if (event.Status === "died") {
        void Effect.runFork(PubSub.publish(events, { _tag: "Died", name: event.Name, code: event.ContainerExitCode ?? 0, at }))
      }
    }
    const watchEvents: Effect.Effect<void> = Effect.scoped(Effect.gen(function*() {
      const exited = yield* lines(tool, [
        "events",
        "--format=json",
        // Podman 4 cannot filter events by a label key; the adapter routes them by container name.
        "--filter=type=container",
        `--since=${since}`
      ], (stream, line) => {
        if (stream === "stdout") onEvent(line)
      })
      yield* exited
    }))
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(watchEvents, Effect.sleep(Duration.seconds(1)))))

    const inspect = (name: string): Effect.Effect<Inspection | undefined, AdapterError> =>
      runTool(tool, ["inspect", "--type=container", name]).pipe(
        Effect.map((output) => {
          const list = JSON.parse(output.stdout) as ReadonlyArray<unknown>
          return fromInspect(list[0])
        }),
        Effect.catchIf(notFound, () => Effect.succeed(undefined))
      )

    const stopHealthLoop = (name: string) =>
      Effect.suspend(() => {
        const fiber = healthLoops.get(name)
        healthLoops.delete(name)
        return fiber === undefined ? Effect.void : Fiber.interrupt(fiber)
      })

    const startHealthLoop = (spec: ContainerSpec) =>
      Effect.gen(function*() {
        const health = spec.healthcheck
        if (options.healthchecks !== "adapter" || health === undefined) return
        yield* stopHealthLoop(spec.name)
        const once = Effect.gen(function*() {
          const found = yield* inspect(spec.name)
          if (found?.status === "running") yield* runTool(tool, ["healthcheck", "run", spec.name], [1])
        }).pipe(Effect.ignore)
        const fiber = yield* Effect.forkIn(
          Effect.forever(Effect.zipRight(Effect.sleep(Duration.millis(health.intervalMs)), once)),
          scope
        )
        healthLoops.set(spec.name, fiber)
      })

    const remove = (name: string) =>
      Effect.zipRight(stopHealthLoop(name), Effect.asVoid(runTool(tool, ["rm", "--force", "--ignore", name])))

    const start = (spec: ContainerSpec, existing: Inspection | undefined): Effect.Effect<void, AdapterError> =>
      Effect.gen(function*() {
        if (existing !== undefined) yield* remove(spec.name)
        const argv = RunArgs.render(spec, { engine: "podman", verb: "run", initPath: options.initPath })
        if (Either.isLeft(argv)) {
          return yield* new PlatformCommandFailed({ command: [options.path, "run", spec.name], exitCode: null, stderr: argv.left })
        }
        yield* runTool(tool, argv.right)
        yield* startHealthLoop(spec)
      })

    const follow = (name: string): Effect.Effect<Stream.Stream<PlatformAdapter.LogLine>, never, Scope.Scope> =>
      Effect.gen(function*() {
        const queue = yield* Effect.acquireRelease(Queue.unbounded<PlatformAdapter.LogLine>(), Queue.shutdown)
        const starts = yield* PubSub.subscribe(events)
        // Where the next `podman logs` begins: now, then just after the newest line seen. (The two streams
        // arrive out of timestamp order, so lines are not filtered by it within one process.)
        let since = yield* Clock.currentTimeMillis
        // `podman logs --follow` ends with the run; follow the next run when the container starts again.
        const once = Effect.scoped(Effect.gen(function*() {
          const exited = yield* lines(
            tool,
            ["logs", "--follow", "--timestamps", `--since=${new Date(since).toISOString()}`, name],
            (stream, text) => {
              const line = timestamped(stream, text)
              since = Math.max(since, line.at + 1)
              Queue.unsafeOffer(queue, line)
            }
          )
          yield* exited
        }))
        yield* followAcrossRuns({ name, once, inspect: inspect(name), starts, poll: options.poll })
        return Stream.fromQueue(queue)
      })

    const driver: Driver = {
      kind: "podman",
      restarts: "platform",
      render: (spec) =>
        Either.match(RunArgs.render(spec, { engine: "podman", verb: "run", initPath: options.initPath }), {
          onLeft: (reason) =>
            Effect.fail(new PlatformCommandFailed({ command: [options.path, "run", spec.name], exitCode: null, stderr: reason })),
          onRight: (argv) =>
            Effect.succeed({ name: `${spec.name}.podman-run.sh`, kind: "podman run command", content: `${RunArgs.toShell(["podman", ...argv])}\n` })
        }),
      start: (spec, _, existing) => start(spec, existing),
      inspect,
      kill: (name, signal: Signal.Signal) => Effect.asVoid(runTool(tool, ["kill", `--signal=${signal}`, name])),
      stop: (name, timeout) =>
        Effect.zipRight(
          stopHealthLoop(name),
          Effect.asVoid(
            runTool(tool, ["stop", `--time=${stopSeconds(Duration.toMillis(timeout))}`, name]).pipe(
              Effect.catchIf(notFound, () => Effect.void)
            )
          )
        ),
      remove,
      logs: (name, _, count) =>
        Effect.map(runTool(tool, ["logs", "--timestamps", `--tail=${count}`, name]), (output) => {
          const split = (stream: "stdout" | "stderr", text: string) =>
            text.split("\n").filter((line, i, all) => line !== "" || i < all.length - 1).map((line) => timestamped(stream, line))
          return mergeLines([...split("stdout", output.stdout), ...split("stderr", output.stderr)], count)
        }).pipe(Effect.catchIf(notFound, () => Effect.succeed([]))),
      follow: (name) => follow(name),
      lifecycle: Effect.map(PubSub.subscribe(events), Stream.fromQueue)
    }
    return driver
  })
