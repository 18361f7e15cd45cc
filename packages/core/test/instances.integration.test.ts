// Instances: one config run as several real processes that share the manager's listen socket (the
// kernel spreads the connections), each with its own name, DUENDE_INSTANCE, pid and restarts;
// scaled up and down by adding the config again, restarted one at a time with no failed request.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { mkdtempSync } from "node:fs"
import { request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Input } from "../src/DaemonConfig.js"
import { decodeSync } from "../src/DaemonConfigSchema.js"
import * as DaemonManager from "../src/DaemonManager.js"
import * as NativeAdapter from "../src/NativeAdapter.js"
import { PlatformAdapter } from "../src/PlatformAdapter.js"
import { fixture } from "./helpers/process.js"

const logDirectory = mkdtempSync(join(tmpdir(), "duende-instances-"))
const adapterLayer = NativeAdapter.layer({ logDirectory, readyGrace: "200 millis" })
const managerLayer = DaemonManager.layer.pipe(Layer.provide(adapterLayer))
const port = 20_000 + Math.floor(Math.random() * 20_000)
const config = (instances: Input["instances"], extra: Partial<Input> = {}) =>
  decodeSync({
    name: "web",
    command: [process.execPath, fixture("instance-server.mjs")],
    instances,
    listen: [{ name: "http", port }],
    shutdownTimeout: "3s",
    platform: { native: { ready: "started" } },
    ...extra
  })

/** One request on a fresh connection: "instance pid", or the error's code. */
const get = () =>
  Effect.promise(() =>
    new Promise<string>((resolve) => {
      const req = request({ host: "127.0.0.1", port, path: "/", agent: false, timeout: 5_000 }, (res) => {
        let body = ""
        res.on("data", (chunk) => (body += chunk))
        res.on("end", () => resolve(body.trim()))
      })
      req.on("timeout", () => req.destroy(new Error("timeout")))
      req.on("error", (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`))
      req.end()
    })
  )

const running = (manager: DaemonManager.DaemonManager) =>
  Effect.map(manager.members("web"), (all) => all.map((m) => ({ name: m.handle.name, pid: m.state.pid, status: m.state.status._tag })))

describe("instances of one config under the native adapter", () => {
  it.scopedLive("run side by side on one held socket, scale up and down, restart one at a time, stop and go together", () =>
    Effect.gen(function*() {
      const manager = yield* DaemonManager.DaemonManager
      yield* manager.add(config(3))
      yield* manager.start("web")
      const three = yield* running(manager)
      expect(three.map((m) => [m.name, m.status])).toEqual([["web@0", "Running"], ["web@1", "Running"], ["web@2", "Running"]])
      expect(new Set(three.map((m) => m.pid)).size).toBe(3)
      // Each is a daemon of its own by name, with its number in the environment.
      expect((yield* manager.get("web@1")).handle.instance).toBe(1)
      const answers = yield* Effect.forEach(Array.from({ length: 150 }), get, { concurrency: 10 })
      expect(answers.filter((a) => !/^[0-2] \d+$/.test(a))).toEqual([])
      const pidsByInstance = new Map(answers.map((a) => [a.split(" ")[1], a.split(" ")[0]]))
      for (const m of three) {
        if (pidsByInstance.has(String(m.pid))) expect(pidsByInstance.get(String(m.pid))).toBe(m.name.slice(4))
      }
      // The kernel spreads the connections over the processes accepting on the one socket.
      expect(pidsByInstance.size).toBeGreaterThanOrEqual(2)

      // A rolling restart goes one instance at a time; the socket never closes: no request fails.
      let loading = true
      const load = Effect.gen(function*() {
        const seen: Array<string> = []
        while (loading) seen.push(yield* get())
        return seen
      })
      const loadFiber = yield* Effect.fork(Effect.all([load, load, load, load], { concurrency: "unbounded" }))
      yield* Effect.sleep("200 millis")
      yield* manager.restart("web")
      yield* Effect.sleep("200 millis")
      loading = false
      const during = (yield* Fiber.join(loadFiber)).flat()
      expect(during.length).toBeGreaterThan(20)
      expect(during.filter((a) => !/^[0-2] \d+$/.test(a))).toEqual([])
      const restarted = yield* running(manager)
      expect(restarted.every((m) => m.status === "Running")).toBe(true)
      for (let i = 0; i < 3; i++) expect(restarted[i]!.pid).not.toBe(three[i]!.pid)

      // Scaled up: the new one starts; the others are left as they are.
      yield* manager.add(config(4))
      yield* manager.start("web")
      const four = yield* running(manager)
      expect(four.map((m) => m.name)).toEqual(["web@0", "web@1", "web@2", "web@3"])
      expect(four.slice(0, 3).map((m) => m.pid)).toEqual(restarted.map((m) => m.pid))
      expect(four[3]!.status).toBe("Running")
      // Scaled down to one: web@0 stays (no rename, no restart); the others are stopped and removed.
      yield* manager.add(config(1))
      const one = yield* running(manager)
      expect(one).toEqual([four[0]])
      expect(yield* get()).toBe(`0 ${four[0]!.pid}`)

      // A name that is neither a daemon nor a config.
      const unknown = yield* Effect.flip(manager.stop("web@7"))
      expect(unknown._tag).toBe("UnknownDaemon")
      expect(String((unknown as DaemonManager.UnknownDaemon).known)).toContain("web@0")

      yield* manager.add(config(2))
      yield* manager.start("web")
      yield* manager.stop("web")
      expect((yield* running(manager)).map((m) => m.status)).toEqual(["Stopped", "Stopped"])
      yield* manager.remove("web")
      expect(yield* manager.list).toEqual([])
      // The last one removed closed the socket.
      expect(yield* get()).toBe("error ECONNREFUSED")
    }).pipe(Effect.provide(managerLayer)), 60_000)

  it.scopedLive("a platform that cannot run copies side by side refuses instances, naming the way out", () =>
    Effect.gen(function*() {
      const native = yield* PlatformAdapter
      const single = Layer.succeed(PlatformAdapter, { ...native, instances: undefined })
      const manager = yield* DaemonManager.make.pipe(Effect.provide(single))
      const refused = yield* Effect.flip(manager.add(config(2)))
      expect(refused).toMatchObject({ _tag: "OperationUnsupported", operation: "run 2 instances of web" })
      expect(refused.message).toMatch(/native supervisor/)
      expect(yield* manager.list).toEqual([])
    }).pipe(Effect.provide(adapterLayer)), 30_000)

  it("\"max\" is one per CPU", () => {
    expect(DaemonManager.instanceCount(config("max"))).toBeGreaterThanOrEqual(1)
    expect(DaemonManager.instanceCount(config(5))).toBe(5)
    expect(DaemonManager.instanceCount(config(1))).toBe(1)
  })
})
