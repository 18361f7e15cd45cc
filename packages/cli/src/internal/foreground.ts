/**
 * `duende run`: daemons supervised in the foreground, without the background
 * supervisor. Their output is printed with their name, their status and URLs
 * once ready; Ctrl-C stops them gracefully (dependents first). It ends by
 * itself when no daemon is left running or waiting for a restart. The daemons
 * never outlive it: the adapter is tethered (a warden stops their trees when
 * this process ends, even by SIGKILL). A daemon that cannot bind its port is
 * told who holds it (a leftover Duende daemon, or another program).
 *
 * @internal
 */
import { Daemon, type DaemonConfig, ExitReason } from "@duende/core"
import { DaemonManager, NativeAdapter, ProcessTree, RestartPolicy } from "@duende/core/manager"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type { Paths } from "../Paths.js"
import { describeHolders, listeningUrls, portHolders, portInUse } from "./listening.js"

const say = (line: string) => Effect.sync(() => void process.stdout.write(`${line}\n`))

export const runForeground = (paths: Paths, configs: ReadonlyArray<DaemonConfig.DaemonConfig>): void => {
  const width = Math.max(...configs.map((c) => c.name.length))
  const label = (name: string) => name.padEnd(width)
  const sum = (pick: (c: DaemonConfig.DaemonConfig) => Duration.Duration) =>
    configs.reduce((total, c) => total + Duration.toMillis(pick(c)), 0)
  const longestStop = Math.max(...configs.map((c) => Duration.toMillis(c.shutdownTimeout)))
  // Who holds a port a daemon could not bind, said once per daemon, port and holders.
  const explained = new Set<string>()
  const explainPortInUse = (name: string, text: string) =>
    Effect.suspend(() => {
      const port = portInUse(text)
      if (port === undefined) return Effect.void
      const holders = portHolders(port)
      const key = `${name} ${port} ${holders.map((h) => h.pid).join(",")}`
      if (explained.has(key)) return Effect.void
      explained.add(key)
      return say(`${label(name)} | ${describeHolders(port, holders)}`)
    })

  const daemon = Daemon.make({
    name: "duende-run",
    init: () =>
      Effect.gen(function*() {
        const manager = yield* DaemonManager.DaemonManager
        const done = yield* Deferred.make<boolean>()
        const finished = new Map<string, boolean>()
        const events = yield* manager.events
        yield* Effect.forkScoped(Stream.runForEach(events, (event) =>
          Effect.gen(function*() {
            const finish = (name: string, ok: boolean) =>
              Effect.suspend(() => {
                finished.set(name, ok)
                return finished.size === configs.length
                  ? Deferred.succeed(done, [...finished.values()].every(Boolean))
                  : Effect.void
              })
            if (event._tag === "Restarting") {
              yield* say(`${label(event.name)} | restarting in ${Duration.format(Duration.millis(event.delayMs))}: ${event.reason}`)
            } else if (event._tag === "GaveUp") {
              yield* say(`${label(event.name)} | gave up: ${event.reason}`)
              yield* finish(event.name, false)
            } else if (event._tag === "Daemon") {
              const e = event.event
              if (e._tag === "Exited") {
                yield* say(`${label(event.name)} | ${e.exit.description}`)
                const config = configs.find((c) => c.name === event.name)!
                if (!RestartPolicy.shouldRestart(config.restart.policy, e.exit, false)) {
                  yield* finish(event.name, RestartPolicy.isCleanExit(e.exit))
                }
              } else if (e._tag === "Started") finished.delete(event.name)
              else if (e._tag === "Health" && e.state !== "healthy") {
                yield* say(`${label(event.name)} | health: ${e.state} (${e.summary})`)
              }
            }
          })))
        for (const config of configs) {
          yield* manager.add(config)
          const lines = yield* Effect.flatMap(manager.get(config.name), (m) => manager.adapter.followLogs(m.handle))
          yield* Effect.forkScoped(Stream.runForEach(lines, (line) =>
            Effect.zipRight(say(`${label(config.name)} | ${line.text}`), explainPortInUse(config.name, line.text))))
        }
        for (const config of configs) {
          yield* manager.start(config.name).pipe(Effect.tapError((error) => explainPortInUse(config.name, error.message)))
          const managed = yield* manager.get(config.name)
          const pid = managed.state.pid
          const urls = pid === undefined ? [] : listeningUrls([pid, ...ProcessTree.members(pid).map((p) => p.pid)])
          yield* say(
            `${label(config.name)} | ${managed.state.status._tag.toLowerCase()} (pid ${pid ?? "-"})${
              urls.length ? ` on ${urls.join(" ")}` : ""
            }${managed.state.statusText ? ` — ${managed.state.statusText}` : ""}`
          )
        }
        yield* say(`duende: ${configs.length === 1 ? "1 daemon" : `${configs.length} daemons`} running; Ctrl-C stops gracefully`)
        return { manager, done }
      }),
    run: (ctx) =>
      Effect.map(Deferred.await(ctx.state.done), (ok) =>
        ok ? ExitReason.Graceful() : ExitReason.Error({ message: "a daemon failed and will not be restarted" })),
    shutdown: (ctx) =>
      Effect.zipRight(
        say(`duende: stopping (up to ${Duration.format(Duration.millis(longestStop))})`),
        ctx.state.manager.shutdownAll
      )
  })

  Daemon.runMain(daemon, {
    layer: DaemonManager.layer.pipe(Layer.provide(NativeAdapter.layer({ logDirectory: paths.logs, tethered: true }))),
    config: {
      initTimeout: sum((c) => c.initTimeout) + 10_000,
      shutdownTimeout: longestStop + 5_000,
      health: { enabled: false }
    }
  })
}
