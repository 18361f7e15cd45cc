// PepitaAdapter against real VMs: core's PlatformAdapter operations on a daemon
// in its own QEMU VM, the guest agent as its manager. One adapter for the
// file; its tests run in order.
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import type { PlatformAdapter } from "@duende/core/manager"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { existsSync, mkdtempSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as PepitaAdapter from "../src/PepitaAdapter.js"
import { app, cacheDirectory, gate } from "./helpers/vm.js"

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe.skipIf(!gate.ok)(`PepitaAdapter with real VMs${gate.label}`, () => {
  const scope = Effect.runSync(Scope.make())
  const stateDirectory = mkdtempSync(join(tmpdir(), "pepita-adapter-"))
  let adapter: PepitaAdapter.PepitaAdapter
  let handle: PlatformAdapter.DaemonHandle
  let hostPort = 0
  let vmmPid = 0
  const seen: Array<PlatformAdapter.DaemonEvent> = []

  const config = (name: string, mode: string, env: Record<string, string> = {}) =>
    decodeSync({
      name,
      command: ["node", "daemon.mjs", mode],
      env,
      workingDirectory: app,
      shutdownTimeout: "5s",
      initTimeout: "60s",
      platform: { pepita: { memory: "512M" } }
    })

  beforeAll(async () => {
    hostPort = await freePort()
    adapter = await run(Scope.extend(
      PepitaAdapter.make({ stateDirectory, cacheDirectory, forwards: [{ host: hostPort, guest: 8080 }], heartbeat: "1 second" }),
      scope
    ))
    handle = await run(adapter.install(config("web", "serve", { PORT: "8080" })))
    const events = await run(Scope.extend(adapter.events(handle), scope))
    Effect.runFork(Stream.runForEach(events, (event) => Effect.sync(() => seen.push(event))))
  }, 60_000)

  afterAll(() => run(Scope.close(scope, Exit.void)))

  it("renders the VM spec: machine from platform.pepita, the daemon's real command as the task", async () => {
    const [artifact] = await run(adapter.render(config("web", "serve")))
    const spec = JSON.parse(artifact!.content)
    expect(spec.machine).toMatchObject({ name: "web", memoryMiB: 512, vcpus: 1 })
    expect(spec.task).toMatchObject({ program: "node", args: ["daemon.mjs", "serve"], cwd: app, shutdownTimeoutMs: 5000 })
  })

  it("starts: boots the VM, runs the daemon and returns once it is READY; Running with its pid and status text", async () => {
    const started = performance.now()
    await run(adapter.start(handle))
    process.stderr.write(`[pepita] adapter start → ready ${Math.round(performance.now() - started)} ms\n`)
    const state = await run(adapter.status(handle))
    expect(state.status._tag).toBe("Running")
    expect(state.pid).toBeGreaterThan(1)
    expect(state.statusText).toBe("serving serve")
    expect(seen.map((event) => event._tag)).toEqual(expect.arrayContaining(["Started", "Ready", "StatusText"]))
    expect(await run(Effect.flip(adapter.start(handle)))).toMatchObject({ _tag: "DaemonAlreadyRunning", name: "web" })
  })

  it("forwards its port to 127.0.0.1: the host reaches the HTTP daemon in the VM", async () => {
    const response = await fetch(`http://127.0.0.1:${hostPort}/`)
    expect(await response.text()).toBe("hello from web\n")
  })

  it("keeps its output as logs, and follows new lines: a signal's answer", async () => {
    const logs = await run(adapter.logs(handle))
    expect(logs).toContainEqual(expect.objectContaining({ stream: "stdout", text: `daemon serve up in web cwd ${app} GREETING=undefined` }))
    expect(logs).toContainEqual(expect.objectContaining({ stream: "stderr", text: "daemon: a line on stderr" }))
    const lines = await run(Effect.scoped(Effect.gen(function*() {
      const follow = yield* adapter.followLogs(handle)
      const taken = yield* Effect.fork(Stream.runCollect(Stream.take(follow, 1)))
      yield* adapter.reload(handle)
      return yield* Fiber.join(taken).pipe(Effect.timeout(Duration.seconds(30)))
    })))
    expect(Chunk.toReadonlyArray(lines).map((line) => line.text)).toEqual(["reload: zombies=0"])
  })

  it("pauses and resumes the VM; the daemon answers again after resume", async () => {
    await run(adapter.pause(handle))
    expect((await run(adapter.status(handle))).status._tag).toBe("Paused")
    await run(adapter.resume(handle))
    expect((await run(adapter.status(handle))).status._tag).toBe("Running")
    const response = await fetch(`http://127.0.0.1:${hostPort}/`)
    expect(response.status).toBe(200)
  })

  it("stops gracefully: the shutdown hook ran, exit 0, no VMM process or VM directory left", async () => {
    vmmPid = (await run(adapter.machine(handle))).pid
    expect(alive(vmmPid)).toBe(true)
    expect(existsSync(join(stateDirectory, "web"))).toBe(true)
    await run(adapter.stop(handle, Duration.seconds(5)))
    const state = await run(adapter.status(handle))
    expect(state.status._tag).toBe("Stopped")
    expect(state.lastExit).toMatchObject({ code: 0, signal: null })
    expect((await run(adapter.logs(handle))).map((line) => line.text)).toContain("shutdown hook ran")
    expect(seen.at(-1)).toMatchObject({ _tag: "Exited", exit: { code: 0 } })
    expect(existsSync(join(stateDirectory, "web"))).toBe(false)
    expect(alive(vmmPid)).toBe(false)
    // Stopping a stopped daemon does nothing.
    await run(adapter.stop(handle, Duration.seconds(5)))
  })

  it("reports a crash: Failed with the exit code, an Exited event, the VM gone", async () => {
    const crash = await run(adapter.install(config("crash", "crash")))
    const exited = await run(Scope.extend(
      Effect.flatMap(adapter.events(crash), (events) =>
        Effect.forkIn(Stream.runHead(Stream.filter(events, (event) => event._tag === "Exited")), scope)),
      scope
    ))
    await run(adapter.start(crash))
    const event = await run(Fiber.join(exited).pipe(Effect.timeout(Duration.seconds(30))))
    expect(event).toMatchObject({ _tag: "Some", value: { _tag: "Exited", exit: { code: 3, description: "exited 3" } } })
    const state = await run(adapter.status(crash))
    expect(state.status).toMatchObject({ _tag: "Failed", reason: "exited 3" })
    expect(existsSync(join(stateDirectory, "crash"))).toBe(false)
  })
})
