// The manager entry's platform-module shape: kind, formats, flags, options, render.
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Logger from "effect/Logger"
import { dirname } from "node:path"
import * as Module from "../src/adapter.js"

const host = { path: `${dirname(process.execPath)}:/usr/bin:/bin`, cwd: "/srv/app", home: "/Users/ada", uid: 501 }

describe("@duende/platform-launchd/adapter", () => {
  it("names its kind, formats and flags", () => {
    expect(Module.kind).toBe("launchd")
    expect(Module.formats).toEqual(["launchd"])
    expect(Module.flags.map((f) => f.name)).toEqual(["agent", "daemon"])
  })

  it("options: --agent/--daemon, else the config's domain; both at once is refused", () => {
    const context = { stateDirectory: "/var/lib/duende" }
    expect(Module.options({ daemon: true }, context)).toEqual(
      Either.right({ scope: "daemon", directories: { state: "/var/lib/duende/launchd/daemon" } })
    )
    const system = decodeSync({ name: "api", command: ["x"], platform: { launchd: { domain: "system" } } })
    expect(Either.map(Module.options({}, { ...context, config: system }), (o) => o.scope)).toEqual(Either.right("daemon"))
    expect(Either.map(Module.options({}, context), (o) => o.scope)).toEqual(Either.right("agent"))
    expect(Module.options({ agent: true, daemon: true }, context)).toEqual(
      Either.left("--agent and --daemon exclude each other: a job is a LaunchAgent or a LaunchDaemon")
    )
  })

  it.effect("render: the plist, each inexpressible setting logged as a warning naming its field", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const config = decodeSync({ name: "api", command: ["node", "server.js"], resources: { cpuQuota: 50 } })
      const artifacts = yield* Module.render(config, { format: "launchd", host }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logged.push(String(message)))))
      )
      expect(artifacts.map((a) => a.name)).toEqual(["duende.api.plist"])
      expect(logged).toContain("launchd cannot express resources.cpuQuota: launchd cannot cap CPU time per second (use cpuWeight or processType)")
      const refused = yield* Effect.flip(Module.render(decodeSync({ name: "api", command: ["node"], user: "ada" }), { format: "launchd", host }))
      expect(refused).toMatchObject({ _tag: "RenderError", platform: "launchd", format: "launchd" })
      expect(refused.message).toMatch(/user: a LaunchAgent runs as the logged-in user/)
      const daemon = yield* Module.render(decodeSync({ name: "api", command: ["node"], user: "_api" }), { format: "launchd", scope: "daemon", host })
      expect(daemon[0]!.content).toContain("<key>UserName</key>\n\t<string>_api</string>")
    }))
})
