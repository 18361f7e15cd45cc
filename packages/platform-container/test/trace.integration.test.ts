// Tracing a runc container's process from the host with the real strace: the adapter takes the host
// pid from `runc state`, strace sees the daemon inside write its state file (/run/duende in the
// container), and detaching leaves the container running with the same process.
import { SyscallTrace } from "@duende/core/manager"
import { Integration } from "@duende/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import * as ContainerAdapter from "../src/ContainerAdapter.js"
import { daemonConfig, repoMount, tool } from "./helpers/containers.js"

const gate = Integration.check(Integration.tool("runc"), Integration.tool("strace"), Integration.root())
const base = mkdtempSync(join(tmpdir(), "duende-runc-trace-"))
const runtimeRoot = join(base, "runc")
const adapter = ContainerAdapter.make({
  stateDirectory: join(base, "state"),
  driver: "runc",
  runtimeRoot,
  readyGrace: "500 millis",
  pollInterval: "200 millis",
  section: () => ({ ready: "notify", mounts: [repoMount] })
})
const runc = (...args: Array<string>) => tool("runc", ["--root", runtimeRoot, ...args])

afterAll(() => {
  for (const id of runc("list", "--quiet").stdout.split("\n").filter((id) => id !== "")) runc("delete", "--force", id)
  rmSync(base, { recursive: true, force: true })
})

describe.skipIf(!gate.ok)(`duende trace of a runc container from the host${gate.label}`, () => {
  it.scopedLive("traces the container's process by the pid runc reports, and detaches leaving it running", () =>
    Effect.gen(function*() {
      const containers = yield* adapter
      const handle = yield* containers.install(daemonConfig("traced"))
      yield* containers.start(handle)
      const pid = (JSON.parse(runc("state", handle.ref).stdout) as { pid: number }).pid
      expect((yield* containers.status(handle)).pid).toBe(pid)
      // Inside the container the daemon is PID 1 of its own namespace.
      expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(new RegExp(`^NSpid:\\s+${pid}\\s+1$`, "m"))
      const traceScope = yield* Scope.make()
      const events = yield* Scope.extend(containers.attachTracer!(handle, { filter: ["file", "write"] }), traceScope)
      const seen: Array<SyscallTrace.Event> = []
      const consumer = yield* Effect.fork(Stream.runForEach(events, (e) => Effect.sync(() => void seen.push(e))))
      // The daemon's health loop (every 200 ms) writes its state file under /run/duende.
      const deadline = Date.now() + 30_000
      while (!seen.some((e) => e._tag === "Syscall" && e.args.includes("/run/duende/"))) {
        if (Date.now() > deadline) throw new Error(`not seen in 30s: ${JSON.stringify(seen.slice(-5))}`)
        yield* Effect.sleep("50 millis")
      }
      expect(seen.every((e) => e.pid === pid)).toBe(true)
      yield* Fiber.interrupt(consumer)
      yield* Scope.close(traceScope, Exit.void)
      expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^TracerPid:\s+0$/m)
      yield* Effect.sleep("1 second")
      const after = yield* containers.status(handle)
      expect(after.status._tag).toBe("Running")
      expect(after.pid).toBe(pid)
      expect(after.health).toBe("healthy")
      yield* containers.stop(handle, Duration.seconds(10))
      const stopped = yield* Effect.flip(Effect.scoped(containers.attachTracer!(handle)))
      expect(stopped.message).toBe(`trace failed: container ${handle.ref} is not running`)
      yield* containers.uninstall(handle)
    }))
})
