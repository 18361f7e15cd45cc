import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Daemon from "../../src/Daemon.js"
import type { Input } from "../../src/DaemonConfig.js"
import { decodeSync } from "../../src/DaemonConfigSchema.js"
import * as ExitReason from "../../src/ExitReason.js"
import * as PlatformRuntime from "../../src/PlatformRuntime.js"
import * as ProcessSignals from "../../src/ProcessSignals.js"

/**
 * Starts a daemon's lifecycle in a fiber with a recording platform runtime and
 * a hand-fed signal source. Every notification is recorded as "<ms> <event>",
 * with ms from the (test) clock.
 */
export const start = <E>(
  daemon: Daemon.Daemon<E>,
  config: Partial<Input> = {},
  options: { readonly watchdogTimeout?: Duration.DurationInput; readonly reloadConfig?: Effect.Effect<any, unknown> } = {}
) =>
  Effect.gen(function*() {
    const log = yield* Ref.make<ReadonlyArray<string>>([])
    const record = (event: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.update(log, (events) => [...events, `${now} ${event}`]))
    const runtime = PlatformRuntime.make({
      platform: "native",
      ready: record("READY"),
      reloading: record("RELOADING"),
      stopping: record("STOPPING"),
      status: (text) => record(`STATUS=${text}`),
      health: (report) => record(`HEALTH=${report.state}/${report.consecutiveFailures}`),
      extendTimeout: (duration) => record(`EXTEND=${Duration.toMillis(duration)}`),
      watchdogPing: record("WATCHDOG"),
      watchdogTimeout: options.watchdogTimeout === undefined
        ? Option.none()
        : Option.some(Duration.decode(options.watchdogTimeout))
    })
    const { offer, signals } = yield* ProcessSignals.makeManual
    const fiber = yield* Effect.fork(
      Daemon.run(daemon, {
        config: decodeSync({ name: daemon.name, command: ["test"], ...config }),
        ...(options.reloadConfig ? { reloadConfig: options.reloadConfig } : {})
      }).pipe(
        Effect.provideService(PlatformRuntime.PlatformRuntime, runtime),
        Effect.provideService(ProcessSignals.ProcessSignals, signals)
      )
    )
    const events = Ref.get(log)
    /** Lets forked fibers run until `event` has been recorded (no clock movement). */
    const waitFor = (event: string) =>
      Effect.gen(function*() {
        for (let i = 0; i < 1000; i++) {
          if ((yield* events).some((line) => line.endsWith(` ${event}`) || line.split(" ").slice(1).join(" ") === event)) return
          yield* Effect.yieldNow()
        }
        return yield* Effect.dieMessage(`"${event}" was never recorded; got:\n${(yield* events).join("\n")}`)
      })
    const signal = (signal: "SIGTERM" | "SIGINT" | "SIGHUP") => offer({ _tag: "Signal", signal })
    const exit = Effect.map(Fiber.join(fiber), (reason) => ({
      reason,
      code: ExitReason.exitCode(reason)
    }))
    return { events, waitFor, signal, offer, fiber, exit }
  })

/** A trace of what the hooks did, for ordering assertions. */
export const makeTrace = Effect.gen(function*() {
  const trace = yield* Ref.make<ReadonlyArray<string>>([])
  return {
    add: (entry: string) => Ref.update(trace, (entries) => [...entries, entry]),
    get: Ref.get(trace)
  }
})

/** Yields until a fiber-driven condition holds. */
export const settle = Effect.repeatN(Effect.yieldNow(), 50)
