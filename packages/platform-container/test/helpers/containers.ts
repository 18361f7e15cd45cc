// Shared pieces of the integration tests: fixture configs, event subscriptions, waiting, cleanup.
import type { DaemonConfig } from "@duende/core"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import type { PlatformAdapter } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { spawnSync } from "node:child_process"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import type * as ContainerSection from "../../src/ContainerSection.js"

/** The repository root: bound read-only into containers so fixtures and node_modules resolve. */
export const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..")

export const fixture = (name: string) => join(repo, "packages/platform-container/test/fixtures", name)

/** `duende health` as a container runs it: the real CLI, with the host's node (the repository is bound in). */
export const duendeHealth: readonly [string, ...Array<string>] = [process.execPath, join(repo, "packages/cli/bin/duende.js"), "health"]

/** Host /usr etc. come with the "host" root; the repository comes in read-only. */
export const repoMount: ContainerSection.Mount = { type: "bind", source: repo, target: repo, readOnly: true }

/** A config running the fixture daemon with the host's node. */
export const daemonConfig = (
  name: string,
  options: {
    readonly env?: Record<string, string>
    readonly daemon?: Record<string, unknown>
    readonly extra?: Record<string, unknown>
  } = {}
): DaemonConfig.DaemonConfig =>
  decodeSync({
    name,
    version: "1.0.0",
    command: [process.execPath, fixture("daemon.mjs")],
    env: {
      FIXTURE_CONFIG: JSON.stringify({
        health: { interval: "200ms", retries: 1 },
        shutdownTimeout: "5s",
        ...options.daemon
      }),
      ...options.env
    },
    health: { interval: "1s", timeout: "3s", retries: 1 },
    initTimeout: "30s",
    shutdownTimeout: "5s",
    ...options.extra
  })

/** Subscribes now (in the scope) and returns a function that takes events until one matches. */
export const subscribe = <A, E, R>(subscription: Effect.Effect<Stream.Stream<A>, E, R>) =>
  Effect.map(Effect.flatMap(subscription, Stream.toPull), (pull) => (until: (a: A) => boolean, seconds = 30) =>
    Effect.gen(function*() {
      const seen: Array<A> = []
      while (true) {
        const chunk = yield* pull.pipe(Effect.orDie)
        for (const a of chunk) {
          seen.push(a)
          if (until(a)) return seen
        }
      }
    }).pipe(Effect.timeoutFail({ duration: `${seconds} seconds`, onTimeout: () => new Error(`no such event in ${seconds}s`) })))

/** Polls until `f` gives a value (real time). */
export const eventually = <A, E, R>(f: Effect.Effect<A | undefined, E, R>, seconds = 30) =>
  Effect.gen(function*() {
    const end = Date.now() + seconds * 1000
    while (Date.now() < end) {
      const value = yield* f
      if (value !== undefined) return value
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.dieMessage(`condition not met within ${seconds}s`)
  })

export const isExit = (event: PlatformAdapter.DaemonEvent) => event._tag === "Exited"

/** Runs a tool synchronously (test setup and checks only). */
export const tool = (file: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = process.env) => {
  const result = spawnSync(file, args, { encoding: "utf8", env, timeout: 60_000 })
  return { code: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "" }
}
