// Shared pieces of the integration tests: fixture configs, event subscriptions, waiting, cleanup.
import type { DaemonConfig } from "@duende/core"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import type { PlatformAdapter } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { expect } from "vitest"
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

/** A plain command that prints what the container lets it do (fixtures/identity.mjs) and stays until SIGTERM. */
export const identityConfig = (name: string, extra: Record<string, unknown> = {}): DaemonConfig.DaemonConfig =>
  decodeSync({
    name,
    version: "1.0.0",
    command: [process.execPath, fixture("identity.mjs"), "--stay"],
    health: { enabled: false },
    shutdownTimeout: "5s",
    ...extra
  })

/** What fixtures/identity.mjs reported. */
export interface Identity {
  readonly uid: number
  readonly gid: number
  readonly capabilities: Readonly<Record<"effective" | "permitted" | "bounding" | "inheritable" | "ambient", string>>
  readonly noNewPrivileges: boolean
  readonly rootWritable: true | string
  readonly tmpWritable: true | string
  /** Mount options of each kernel path that has a mount of its own (masked or read-only), else null. */
  readonly kernelPaths: Readonly<Record<string, string | null>>
  readonly cmdline: string
  readonly environ: string
  readonly cwd: string
  readonly read: string | null
}

/** The identity line among log lines, if it is there yet. */
export const findIdentity = (lines: ReadonlyArray<{ readonly text: string }>): Identity | undefined => {
  const line = lines.find((l) => l.text.startsWith("identity:"))
  return line === undefined ? undefined : JSON.parse(line.text.slice("identity:".length))
}

/** How many capabilities a /proc/<pid>/status mask holds. */
export const capabilityCount = (mask: string): number => [...BigInt(`0x${mask}`).toString(2)].filter((bit) => bit === "1").length

/** CAP_NET_BIND_SERVICE is capability 10. */
export const netBindService = "0000000000000400"

/**
 * A config whose program path, arguments, environment and working directory hold `$`, quotes, YAML 1.1
 * line breaks, controls and characters outside the BMP (the program is the host's node, bound at a
 * hostile path), for checking that they reach the process byte for byte (see {@link exactly}).
 */
export const hostileIdentity = (name: string, env: Readonly<Record<string, string>>) => {
  const program = "/opt/$prog ${n} \u{1F680}/node"
  const args = [fixture("identity.mjs"), "--stay", "$HOME", "${X:-d}", "\u{1F680}", "nel\u0085", "ls\u2028ps\u2029", "cr\r\nlf", `'"\\`, "%s %%", "", "--env=X"]
  const workingDirectory = "/work $HOME \u{1F680}"
  const config = identityConfig(name, {
    command: { program, args },
    env,
    workingDirectory,
    platform: {
      container: {
        mounts: [
          { source: "/usr", target: "/usr", readOnly: true },
          repoMount,
          { source: process.execPath, target: program, readOnly: true },
          { type: "tmpfs", target: workingDirectory }
        ]
      }
    }
  })
  return { config, program, args, env, workingDirectory }
}

/** The identity's argv and environment bytes are exactly the configured ones; the cwd too. */
export const exactly = (identity: Identity, expected: ReturnType<typeof hostileIdentity>) => {
  const cmdline = Buffer.from(identity.cmdline, "base64")
  expect(cmdline.equals(Buffer.from(`${[expected.program, ...expected.args].join("\0")}\0`, "utf8"))).toBe(true)
  const environ = Buffer.from(identity.environ, "base64")
  // Valid UTF-8 (so the text below is the bytes), each variable exactly once with exactly its value.
  expect(Buffer.from(environ.toString("utf8"), "utf8").equals(environ)).toBe(true)
  const entries = environ.toString("utf8").split("\0")
  for (const [key, value] of Object.entries(expected.env)) {
    expect(entries.filter((entry) => entry.startsWith(`${key}=`)), key).toEqual([`${key}=${value}`])
  }
  expect(identity.cwd).toBe(expected.workingDirectory)
}
