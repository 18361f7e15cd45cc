// A real VM under QEMU (TCG here) with the guest agent, driven frame by frame:
// one VM is booted for the file and its tests run in order against it.
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import type * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as AgentChannel from "../src/AgentChannel.js"
import type * as Frame from "../src/Frame.js"
import * as Image from "../src/Image.js"
import * as QemuDriver from "../src/QemuDriver.js"
import type { Machine } from "../src/VmmDriver.js"
import { app, cacheDirectory, gate } from "./helpers/vm.js"

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

/** The next frame matching, within a deadline (generous: TCG under load is slow). */
const next = <A extends Frame.Frame>(
  frames: Queue.Dequeue<Frame.Decoded>,
  match: (frame: Frame.Frame) => frame is A,
  seconds = 30
) => run(AgentChannel.waitFor(frames, match).pipe(Effect.timeoutFail({ duration: Duration.seconds(seconds), onTimeout: () => new Error("no such frame in time") })))

/** Frames until one matches, all returned. */
const until = (frames: Queue.Dequeue<Frame.Decoded>, done: (frame: Frame.Frame) => boolean, seconds = 30) =>
  run(Effect.gen(function*() {
    const seen: Array<Frame.Decoded> = []
    for (;;) {
      const item = yield* frames.take
      seen.push(item)
      if (Either.isRight(item) && done(item.right)) return seen
    }
  }).pipe(Effect.timeoutFail({ duration: Duration.seconds(seconds), onTimeout: () => new Error("no such frame in time") })))

const outputs = (seen: ReadonlyArray<Frame.Decoded>) =>
  seen.flatMap((item) =>
    Either.isRight(item) && item.right._tag === "Status" && item.right.event._tag === "Output" ? [item.right.event.text] : [])

describe.skipIf(!gate.ok)(`a pepita VM under QEMU${gate.label}`, () => {
  const scope = Effect.runSync(Scope.make())
  let image: Image.Image
  let machine: Machine
  let channel: AgentChannel.AgentChannel
  let frames: Queue.Dequeue<Frame.Decoded>
  let register: Extract<Frame.Frame, { _tag: "Register" }>
  let bootMs = 0
  // The first connection lives in its own scope, so a test can drop it.
  const firstConnection = Effect.runSync(Scope.fork(scope, ExecutionStrategy.sequential))

  beforeAll(async () => {
    image = await run(Image.build({ files: [{ from: app, to: "/app" }] }, { cacheDirectory }))
    const driver = await run(QemuDriver.make({ cacheDirectory }))
    const started = performance.now()
    const booted = await run(Scope.extend(Effect.gen(function*() {
      const machine = yield* driver.boot({
        name: "vm-test",
        kernel: image.kernel,
        initrd: image.initrd,
        memoryMiB: 512,
        vcpus: 1,
        cmdline: ["duende.vm=vm-test", "duende.heartbeat=1000"],
        directory: mkdtempSync(join(tmpdir(), "pepita-vm-")),
        forwards: []
      })
      const { channel, frames } = yield* Scope.extend(
        Effect.gen(function*() {
          const channel = yield* AgentChannel.connect(machine.agentSocket)
          return { channel, frames: yield* channel.subscribe }
        }),
        firstConnection
      )
      return { machine, channel, frames }
    }), scope))
    ;({ channel, frames, machine } = booted)
    register = await next(frames, (f) => f._tag === "Register", 60)
    bootMs = performance.now() - started
    process.stderr.write(`[pepita] boot → Register ${Math.round(bootMs)} ms (${machine.accel}), initramfs ${image.bytes} bytes\n`)
  }, 90_000)

  afterAll(() => run(Scope.close(scope, Exit.void)))

  it("builds the image once per content: a cache hit for the same inputs, a new image when an input changes", async () => {
    const again = await run(Image.build({ files: [{ from: app, to: "/app" }] }, { cacheDirectory }))
    expect(again).toMatchObject({ built: false, hash: image.hash, initrd: image.initrd })
    const changed = mkdtempSync(join(tmpdir(), "pepita-app-"))
    try {
      cpSync(app, changed, { recursive: true })
      writeFileSync(join(changed, "extra.txt"), "one more input\n")
      const other = await run(Image.build({ files: [{ from: changed, to: "/app" }] }, { cacheDirectory: join(changed, "cache") }))
      expect(other.built).toBe(true)
      expect(other.hash).not.toBe(image.hash)
    } finally {
      rmSync(changed, { recursive: true, force: true })
    }
  })

  it("boots to the agent, which registers with its kernel's release", () => {
    expect(register).toMatchObject({ _tag: "Register", kernel: image.release })
    expect(register.uptimeMs).toBeGreaterThan(0)
  })

  it("heartbeats", async () => {
    const beat = await next(frames, (f) => f._tag === "Heartbeat", 10)
    expect(beat.seq).toBeGreaterThan(0)
  })

  it("runs the daemon's real command with its env and cwd; READY on the notify fd and its output reach the host", async () => {
    await run(channel.send({
      _tag: "TaskSubmit",
      id: "serve",
      program: "node",
      args: ["daemon.mjs", "serve"],
      env: { GREETING: "hola" },
      cwd: "/app",
      shutdownTimeoutMs: 5000
    }))
    const seen = await until(frames, (f) => f._tag === "Status" && f.event._tag === "Ready")
    const ack = seen.find((item) => Either.isRight(item) && item.right._tag === "Ack")
    expect(ack).toMatchObject(Either.right({ _tag: "Ack", of: "TaskSubmit", id: "serve" }))
    const events = seen.flatMap((item) => (Either.isRight(item) && item.right._tag === "Status" ? [item.right.event] : []))
    expect(events).toContainEqual({ _tag: "StatusText", text: "serving serve" })
    // stdout and stderr are separate pipes: one may still be on its way after READY.
    const lines = outputs(seen)
    const stderrLine = "daemon: a line on stderr"
    if (!lines.includes(stderrLine)) {
      lines.push(...outputs(await until(frames, (f) => f._tag === "Status" && f.event._tag === "Output" && f.event.text === stderrLine)))
    }
    expect(lines).toContain("daemon serve up in vm-test cwd /app GREETING=hola")
    expect(lines).toContain(stderrLine)
  })

  it("answers a bad frame with an Error and keeps working: a signal after it still arrives; init reaped the orphan", async () => {
    // Unknown type 42, then a TaskCancel whose payload is not JSON.
    await run(channel.write(Buffer.from([0, 0, 0, 2, 42, 1, 2, 0, 0, 0, 1, 3, 0x7b])))
    const errors = await until(frames, (f) => f._tag === "Error" && /not JSON/.test(f.message))
    expect(errors.some((item) => Either.isRight(item) && item.right._tag === "Error" && /unknown frame type 42/.test(item.right.message))).toBe(true)
    await run(channel.send({ _tag: "TaskCancel", id: "serve", signal: "SIGHUP" }))
    const seen = await until(frames, (f) => f._tag === "Status" && f.event._tag === "Output" && f.event.text.startsWith("reload"))
    expect(outputs(seen)).toContain("reload: zombies=0")
  })

  it("forwards SIGTERM; the daemon's graceful exit code comes back as the TaskResult", async () => {
    await run(channel.send({ _tag: "TaskCancel", id: "serve", signal: "SIGTERM" }))
    const seen = await until(frames, (f) => f._tag === "TaskResult")
    expect(outputs(seen)).toContain("shutdown hook ran")
    expect(seen.at(-1)).toEqual(Either.right({ _tag: "TaskResult", id: "serve", code: 0, signal: null }))
  })

  it("refuses a signal for a task that does not run", async () => {
    await run(channel.send({ _tag: "TaskCancel", id: "serve", signal: "SIGHUP" }))
    const error = await next(frames, (f) => f._tag === "Error")
    expect(error).toMatchObject({ id: "serve", message: expect.stringMatching(/no task/) })
  })

  it("survives the host's end of the channel dropping: the same agent answers a new connection", async () => {
    const before = await next(frames, (f) => f._tag === "Heartbeat", 10)
    await run(Scope.close(firstConnection, Exit.void))
    // Long enough for heartbeats to be written while nobody listens.
    await new Promise((resolve) => setTimeout(resolve, 2500))
    ;({ channel, frames } = await run(Scope.extend(
      Effect.gen(function*() {
        const channel = yield* AgentChannel.connect(machine.agentSocket)
        return { channel, frames: yield* channel.subscribe }
      }),
      scope
    )))
    const after = await next(frames, (f) => f._tag === "Heartbeat", 10)
    // Not a respawned agent (whose count would start at 1 after a Register): its heartbeats count on.
    expect(after.seq).toBeGreaterThan(before.seq)
    await run(channel.send({ _tag: "TaskCancel", id: "nothing", signal: "SIGHUP" }))
    const answer = await until(frames, (f) => f._tag === "Error")
    expect(answer.some((item) => Either.isRight(item) && item.right._tag === "Register")).toBe(false)
    expect(answer.at(-1)).toMatchObject(Either.right({ _tag: "Error", id: "nothing" }))
  })

  it("Shutdown: SIGTERM, the deadline, SIGKILL for a daemon that ignores it, Deregister, power off", async () => {
    await run(channel.send({
      _tag: "TaskSubmit",
      id: "stubborn",
      program: "node",
      args: ["daemon.mjs", "stubborn"],
      env: {},
      cwd: "/app",
      shutdownTimeoutMs: 60_000
    }))
    await until(frames, (f) => f._tag === "Status" && f.event._tag === "Ready")
    await run(channel.send({ _tag: "Shutdown", timeoutMs: 500 }))
    const seen = await until(frames, (f) => f._tag === "Deregister")
    expect(outputs(seen)).toContain("ignoring SIGTERM")
    const result = seen.find((item) => Either.isRight(item) && item.right._tag === "TaskResult")
    expect(result).toEqual(Either.right({ _tag: "TaskResult", id: "stubborn", code: null, signal: "SIGKILL" }))
    const exit = await run(machine.exited.pipe(Effect.timeout(Duration.seconds(30))))
    expect(exit.code).toBe(0)
    expect((await run(machine.consoleTail)).some((line) => line.includes("reboot: Power down"))).toBe(true)
  })
})
