// PepitaAdapter against real VMs: core's PlatformAdapter operations on a daemon
// in its own QEMU VM, the guest agent as its manager. One adapter for the
// file; its tests run in order.
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { DaemonManager, PlatformAdapter } from "@duende/core/manager"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as PepitaAdapter from "../src/PepitaAdapter.js"
import { app, cacheDirectory, gate } from "./helpers/vm.js"

const PlatformAdapterTag = PlatformAdapter.PlatformAdapter

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

  afterAll(async () => {
    await run(Scope.close(scope, Exit.void))
    rmSync(stateDirectory, { recursive: true, force: true })
  })

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

  it("reports a guest whose agent stops heartbeating as unhealthy, and healthy again when it beats", async () => {
    // Frozen behind the adapter's back (QMP stop): the adapter still thinks it runs, and hears nothing.
    const machine = await run(adapter.machine(handle))
    const waitFor = (state: string | undefined) =>
      run(Effect.gen(function*() {
        while ((yield* adapter.status(handle)).health !== state) yield* Effect.sleep(Duration.millis(200))
      }).pipe(Effect.timeout(Duration.seconds(30))))
    await run(machine.pause)
    try {
      await waitFor("unhealthy")
      expect(seen).toContainEqual(expect.objectContaining({ _tag: "Health", state: "unhealthy", summary: expect.stringMatching(/no heartbeat/) }))
      expect((await run(adapter.status(handle))).status._tag).toBe("Running")
    } finally {
      await run(machine.resume)
    }
    await waitFor(undefined)
    expect(seen.at(-1)).toMatchObject({ _tag: "Health", state: "healthy", summary: "the guest agent heartbeats again" })
  })

  it("stops gracefully: the shutdown hook ran, exit 0, no VMM process or VM directory left", async () => {
    vmmPid = (await run(adapter.machine(handle))).pid
    expect(alive(vmmPid)).toBe(true)
    expect(existsSync(join(stateDirectory, "web"))).toBe(true)
    const eventsBefore = seen.length
    await run(adapter.stop(handle, Duration.seconds(5)))
    const state = await run(adapter.status(handle))
    expect(state.status._tag).toBe("Stopped")
    expect(state.lastExit).toMatchObject({ code: 0, signal: null })
    expect((await run(adapter.logs(handle))).map((line) => line.text)).toContain("shutdown hook ran")
    expect(seen.at(-1)).toMatchObject({ _tag: "Exited", exit: { code: 0 } })
    // One Stopping for one stop, though the daemon also said STOPPING=1.
    expect(seen.slice(eventsBefore).map((event) => event._tag)).toEqual(["Stopping", "Exited"])
    expect(existsSync(join(stateDirectory, "web"))).toBe(false)
    expect(alive(vmmPid)).toBe(false)
    // Stopping a stopped daemon does nothing.
    await run(adapter.stop(handle, Duration.seconds(5)))
  })

  it("DaemonManager restarts a crashed VM per the restart policy, then gives up at the crash-loop limit", async () => {
    // Its app under /tmp (a checkout there once had its files hidden by a tmpfs the guest mounted on /tmp).
    const underTmp = mkdtempSync(join(tmpdir(), "duende-pepita-app-"))
    cpSync(app, underTmp, { recursive: true })
    const crash = decodeSync({
      name: "crash",
      command: ["node", "daemon.mjs", "crash"],
      workingDirectory: underTmp,
      initTimeout: "60s",
      // No platform.pepita: core's default 256 MiB is raised to what the image needs (with a warning).
      restart: { policy: "on-failure", backoff: { initial: "100ms", jitter: 0 }, crashLoop: { burst: 1, interval: "10m" } }
    })
    const events = await run(Effect.scoped(Effect.gen(function*() {
      const manager = yield* DaemonManager.make.pipe(Effect.provideService(PlatformAdapterTag, adapter))
      const stream = yield* manager.events
      const collected = yield* Effect.fork(Stream.runCollect(Stream.takeUntil(stream, (event) => event._tag === "GaveUp")))
      yield* manager.add(crash)
      yield* manager.start("crash")
      return Chunk.toReadonlyArray(yield* Fiber.join(collected).pipe(Effect.timeout(Duration.seconds(90))))
    })))
    const exits = events.flatMap((event) => (event._tag === "Daemon" && event.event._tag === "Exited" ? [event.event.exit] : []))
    expect(exits).toHaveLength(2)
    for (const exit of exits) expect(exit).toMatchObject({ code: 3, description: "exited 3" })
    expect(events.filter((event) => event._tag === "Restarting")).toHaveLength(1)
    expect(events.at(-1)).toMatchObject({ _tag: "GaveUp", name: "crash" })
    const handle = await run(adapter.find("crash"))
    expect((await run(adapter.status(handle))).status._tag).toBe("Failed")
    expect(existsSync(join(stateDirectory, "crash"))).toBe(false)
    rmSync(underTmp, { recursive: true, force: true })
  }, 120_000)
})
