// Core's PlatformAdapter on the WOS kernel, driving real WebAssembly daemons; and the manager
// entry's platform-module shape.
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { beforeAll, describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Stream from "effect/Stream"
import * as Module from "../src/adapter.js"
import { compileAll, gate } from "./helpers/wasm.js"

describe("@duende/platform-wos/adapter", () => {
  it("names its kind, formats and flags; --cpus is checked, --socket takes a booted kernel", () => {
    expect(Module.kind).toBe("wos")
    expect(Module.formats).toEqual(["wos"])
    expect(Module.flags.map((flag) => flag.name)).toEqual(["socket", "cpus"])
    const context = { stateDirectory: "/tmp/duende" }
    expect(Module.options({ cpus: 2 }, context)).toEqual(Either.right({ cpus: 2 }))
    expect(Module.options({}, context)).toEqual(Either.right({}))
    expect(Module.options({ socket: "/tmp/wos.sock" }, context)).toEqual(
      Either.right({ socket: "/tmp/wos.sock", stateDirectory: "/tmp/duende/wos" })
    )
    expect(Either.isLeft(Module.options({ socket: "/tmp/wos.sock", cpus: 2 }, context))).toBe(true)
    expect(Module.options({ cpus: 0 }, context)).toEqual(Either.left("--cpus: expected a whole number from 1 to 64, got 0"))
  })

  it.effect("render: the spawn request, what WOS cannot express logged naming the field", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const config = decodeSync({
        name: "api",
        command: ["app.wasm", "--port", "80"],
        workingDirectory: "/srv/api",
        resources: { memory: "32M" },
        user: "www",
        platform: { wos: { priority: 2 } }
      })
      const [artifact] = yield* Module.render(config, { format: "wos" }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logged.push(String(message)))))
      )
      expect(artifact!.name).toBe("api.wos.json")
      expect(JSON.parse(artifact!.content)).toEqual({
        name: "api",
        module: "/srv/api/app.wasm",
        args: ["--port", "80"],
        env: {},
        priority: 2,
        memory: 32 * 1024 * 1024,
        sandbox: "/srv/api"
      })
      expect(logged).toEqual(["WOS cannot express user: WOS processes have no users; each has its own sandbox"])
      // A command that is not a WebAssembly module (a node script's config) is refused, naming the field.
      const node = yield* Effect.flip(Module.render(decodeSync({ name: "web", command: ["node", "main.js"] }), { format: "wos" }))
      expect(node.message).toMatch(/command\.program: WOS runs WebAssembly modules \(a WASI command, \.wasm\), got "node"/)
    }))
})

describe.runIf(gate.ok)(`WosAdapter with real WebAssembly daemons${gate.label}`, () => {
  let wasm: Awaited<ReturnType<typeof compileAll>>
  beforeAll(async () => {
    wasm = await compileAll()
  })

  it.scopedLive("start → ready → Running → signal → TERM stop → exit 0, with its events and logs", () =>
    Effect.gen(function*() {
      const adapter = yield* Module.WosAdapter.make({})
      const handle = yield* adapter.install(decodeSync({ name: "counter", command: [wasm.counter], platform: { wos: { priority: 3 } } }))
      expect((yield* adapter.status(handle)).status._tag).toBe("Created")
      const events = yield* adapter.events(handle)
      const seen = yield* events.pipe(Stream.map((e) => e._tag), Stream.takeUntil((tag) => tag === "Exited"), Stream.runCollect, Effect.fork)
      yield* adapter.start(handle)
      const running = yield* adapter.status(handle)
      expect(running).toMatchObject({ status: { _tag: "Running" }, health: "healthy", lastExit: undefined })
      expect(running.pid).toBeGreaterThan(1)
      expect((yield* adapter.host.kernel.get(running.pid!)).priority).toBe(3)
      expect((yield* Effect.flip(adapter.start(handle)))._tag).toBe("DaemonAlreadyRunning")
      yield* adapter.renice(handle, 1)
      expect((yield* adapter.host.kernel.get(running.pid!)).priority).toBe(1)

      const lines = yield* adapter.followLogs(handle)
      const usr1 = yield* lines.pipe(Stream.filter((line) => line.text.startsWith("USR1: count")), Stream.take(1), Stream.runCollect, Effect.fork)
      yield* adapter.signal(handle, "SIGUSR1")
      expect(Chunk.size(yield* Fiber.join(usr1))).toBe(1)
      expect((yield* Effect.flip(adapter.signal(handle, "SIGHUP")))._tag).toBe("OperationUnsupported")
      expect((yield* Effect.flip(adapter.reload(handle)))._tag).toBe("OperationUnsupported")

      yield* adapter.stop(handle, Duration.seconds(10))
      const stopped = yield* adapter.status(handle)
      expect(stopped).toMatchObject({ status: { _tag: "Stopped" }, pid: undefined, lastExit: { code: 0, signal: null } })
      expect((yield* adapter.logs(handle, { lines: 1 })).map((line) => line.text)[0]).toMatch(/^signal 15: stopping after \d+ counts$/)
      expect(Chunk.toReadonlyArray(yield* Fiber.join(seen))).toEqual(["Started", "Health", "Ready", "Stopping", "Exited"])
      yield* adapter.stop(handle, Duration.seconds(1))
    }))

  it.scopedLive("stop KILLs at the deadline a daemon that cannot take TERM", () =>
    Effect.gen(function*() {
      const adapter = yield* Module.WosAdapter.make({})
      const handle = yield* adapter.install(decodeSync({ name: "spin", command: [wasm.spin] }))
      const lines = yield* adapter.followLogs(handle)
      // It does not import duende.ready: Running once started.
      yield* adapter.start(handle)
      expect((yield* adapter.status(handle)).status._tag).toBe("Running")
      yield* lines.pipe(Stream.filter((line) => line.text === "spinning"), Stream.take(1), Stream.runDrain)
      yield* adapter.stop(handle, Duration.millis(300))
      expect(yield* adapter.status(handle)).toMatchObject({
        status: { _tag: "Stopped" },
        lastExit: { code: null, signal: "SIGKILL", description: "killed by KILL" }
      })
    }))

  it.scopedLive("a module WOS refuses fails the start and the daemon is Failed; an exit is Failed by its code", () =>
    Effect.gen(function*() {
      const adapter = yield* Module.WosAdapter.make({})
      const own = yield* adapter.install(decodeSync({ name: "own", command: [wasm.ownMemory] }))
      const error = yield* Effect.flip(adapter.start(own))
      expect(error).toMatchObject({ _tag: "StartFailed", name: "own" })
      expect(error.message).toMatch(/exports its own memory/)
      expect((yield* adapter.status(own)).status._tag).toBe("Failed")
      const out = yield* adapter.install(decodeSync({ name: "out", command: [wasm.output] }))
      const events = yield* adapter.events(out)
      yield* adapter.start(out)
      yield* events.pipe(Stream.filter((e) => e._tag === "Exited"), Stream.take(1), Stream.runDrain)
      expect(yield* adapter.status(out)).toMatchObject({ status: { _tag: "Failed" }, lastExit: { code: 7 } })
      expect((yield* Effect.flip(adapter.find("nope")))._tag).toBe("DaemonNotFound")
      expect(yield* adapter.find("out")).toEqual(out)
    }))
})
