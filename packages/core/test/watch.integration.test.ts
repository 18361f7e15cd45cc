// `watch`: a real daemon under the native adapter is restarted (a new process, gracefully) when a
// file under its working directory changes, once for a burst of changes (debounced), and not
// for changes to what it ignores (node_modules, dot-files, or the names the config gives).
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Input } from "../src/DaemonConfig.js"
import { decodeSync } from "../src/DaemonConfigSchema.js"
import * as DaemonManager from "../src/DaemonManager.js"
import * as NativeAdapter from "../src/NativeAdapter.js"

const logDirectory = mkdtempSync(join(tmpdir(), "duende-watch-logs-"))
const managerLayer = DaemonManager.layer.pipe(Layer.provide(NativeAdapter.layer({ logDirectory, readyGrace: "200 millis" })))

const app = (watch: Input["watch"]) => {
  const dir = mkdtempSync(join(tmpdir(), "duende-watch-"))
  mkdirSync(join(dir, "src"))
  mkdirSync(join(dir, "node_modules", "dep"), { recursive: true })
  mkdirSync(join(dir, "logs"))
  writeFileSync(join(dir, "src", "main.js"), "setInterval(() => {}, 1000)\n")
  return {
    dir,
    config: decodeSync({
      name: "watched",
      command: [process.execPath, "src/main.js"],
      workingDirectory: dir,
      watch,
      shutdownTimeout: "3s",
      platform: { native: { ready: "started" } }
    })
  }
}

const pidOf = (manager: DaemonManager.DaemonManager) => Effect.map(manager.get("watched"), (m) => m.state.pid)

/** Waits until the daemon runs with a pid other than `old` (at most 15 s), or returns undefined. */
const newPid = (manager: DaemonManager.DaemonManager, old: number | null | undefined) =>
  Effect.gen(function*() {
    for (let i = 0; i < 150; i++) {
      const m = yield* manager.get("watched")
      if (m.state.status._tag === "Running" && m.state.pid != null && m.state.pid !== old) return m.state.pid
      yield* Effect.sleep("100 millis")
    }
    return undefined
  })

describe("watch under the native adapter", () => {
  it.scopedLive("restarts once for a burst of changes, and never for ignored files", () =>
    Effect.gen(function*() {
      const { config, dir } = app({ debounce: "300ms" })
      const manager = yield* DaemonManager.DaemonManager
      const reasons: Array<string> = []
      yield* Effect.forkScoped(Stream.runForEach(yield* manager.events, (event) =>
        Effect.sync(() => void (event._tag === "Restarting" && reasons.push(event.reason)))))
      yield* manager.add(config)
      yield* manager.start("watched")
      const first = yield* pidOf(manager)
      expect(first).not.toBeNull()
      yield* Effect.sleep("500 millis") // the watcher is ready

      // Ignored by default: node_modules and dot-files.
      writeFileSync(join(dir, "node_modules", "dep", "index.js"), "x")
      writeFileSync(join(dir, ".env"), "A=1")
      yield* Effect.sleep("1500 millis")
      expect(yield* pidOf(manager)).toBe(first)
      expect(reasons).toEqual([])

      // Five writes within the debounce: one restart.
      for (let i = 0; i < 5; i++) {
        writeFileSync(join(dir, "src", "main.js"), `setInterval(() => {}, 1000) // ${i}\n`)
        yield* Effect.sleep("30 millis")
      }
      const second = yield* newPid(manager, first)
      expect(second).toBeDefined()
      yield* Effect.sleep("1500 millis")
      expect(reasons).toEqual([`watch: ${join(dir, "src", "main.js")} changed`])
      expect(yield* pidOf(manager)).toBe(second)

      // Stopped: a change starts nothing.
      yield* manager.stop("watched")
      writeFileSync(join(dir, "src", "new.js"), "x")
      yield* Effect.sleep("1500 millis")
      expect((yield* manager.get("watched")).state.status._tag).toBe("Stopped")
      expect(reasons).toHaveLength(1)
    }).pipe(Effect.provide(managerLayer)), 60_000)

  it.scopedLive("watches only the paths given, ignoring the names given instead of the defaults", () =>
    Effect.gen(function*() {
      const { config, dir } = app({ paths: ["src", "logs"], ignore: ["*.log"], debounce: "200ms" })
      const manager = yield* DaemonManager.DaemonManager
      yield* manager.add(config)
      yield* manager.start("watched")
      const first = yield* pidOf(manager)
      yield* Effect.sleep("500 millis")
      writeFileSync(join(dir, "outside.js"), "x") // not under src or logs
      writeFileSync(join(dir, "logs", "app.log"), "x") // ignored by name
      yield* Effect.sleep("1200 millis")
      expect(yield* pidOf(manager)).toBe(first)
      writeFileSync(join(dir, "logs", ".hidden"), "x") // dot-files are watched: the given ignore list replaced the defaults
      expect(yield* newPid(manager, first)).toBeDefined()
    }).pipe(Effect.provide(managerLayer)), 60_000)
})
