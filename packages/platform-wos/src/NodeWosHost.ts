/**
 * The WOS kernel in Node, running real WebAssembly processes: each process is
 * a WASI preview1 command (`node:wasi`) in its own worker thread, with its
 * args, its env (plus `WOS_PID`, `DUENDE_WOS_ABI`, and `PWD` naming the sandbox's own path), a
 * sandbox directory preopened at `/sandbox` and at that path, stdout and
 * stderr captured as log lines, and its exit code.
 *
 * - **Memory is capped for real.** The module must import its memory as
 *   `env.memory`; the host creates it with the process's maximum, so growing
 *   past it fails inside the module (`memory.grow` returns -1, `malloc` NULL).
 *   A module that defines (exports) its own memory is refused with
 *   `ModuleRefused`: the host cannot cap a memory it does not create without
 *   rewriting the module, and it does not rewrite modules.
 * - **Scheduling is real.** At most `cpus` processes (default 1) are let run
 *   in a slice; one not chosen waits at its next host call (`Atomics.wait` on
 *   a shared control block) until the kernel chooses it. A process sleeping
 *   in `poll_oneoff` is Blocked in the kernel meanwhile.
 * - **Signals.** KILL is `worker.terminate()`, at once. Other signals are
 *   delivered at the process's next host call through the `duende` import
 *   module (see `include/duende_wos.h`): handlers run at the safe points
 *   `duende_yield`/`duende_ready`/`duende_health`; the default action ends the
 *   process at any host call with the signal number as its exit code.
 *   A module that never calls the host can only be KILLed.
 * - **File descriptors** count against the kernel's per-process limit (256):
 *   past it `path_open` fails with EMFILE.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { mkdtemp, readFile, rm, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, relative, resolve } from "node:path"
import { Worker } from "node:worker_threads"
import * as Host from "./internal/host.js"
import { workerSource } from "./internal/worker.js"
import * as WosError from "./WosError.js"
import { type Options, WosHost } from "./WosHost.js"

/**
 * The host's service and what it deals in, shared with `BrowserWosHost`
 * (see `WosHost`): re-exported here, where Node programs have always found them.
 *
 * @since 0.1.0
 */
export { SpawnOptions, WosHost } from "./WosHost.js"
/** @since 0.1.0 */
export type { ExitInfo, LogLine, Options, ProcessEvent, WosProcess } from "./WosHost.js"

/** The preview1 functions `node:wasi` gives (loaded lazily: node:wasi warns when it loads). */
let preview1: ReadonlySet<string> | undefined
const nodePreview1 = () => {
  if (preview1 === undefined) {
    // Loaded here, not at import: node:wasi prints an ExperimentalWarning when it loads, and the
    // duende command loads this module for every `render` (it bundles its platforms).
    const { WASI } = process.getBuiltinModule("node:wasi")
    preview1 = new Set(
      Object.keys((new WASI({ version: "preview1" }).getImportObject() as { wasi_snapshot_preview1: object })
        .wasi_snapshot_preview1)
    )
  }
  return preview1
}

const platform: Host.Platform = {
  read: (path) => readFile(path),
  get preview1() {
    return nodePreview1()
  },
  sandbox: (given) =>
    given === undefined
      ? Effect.tryPromise({
        try: () => mkdtemp(join(tmpdir(), "duende-wos-")),
        catch: (error) => new WosError.HostFailed({ reason: `sandbox: ${(error as Error).message}` })
      }).pipe(Effect.map((path) => ({ path, own: true })))
      : Effect.promise(() => stat(given).then((s) => s.isDirectory(), () => false)).pipe(
        Effect.filterOrFail(
          (isDirectory) => isDirectory,
          () => new WosError.HostFailed({ reason: `sandbox ${given} is not a directory` })
        ),
        Effect.as({ path: given, own: false })
      ),
  removeSandbox: (path) => rm(path, { recursive: true, force: true }),
  childModule: (sandbox, path) => {
    const inside = relative("/sandbox", resolve("/sandbox", path))
    return !path.startsWith("/sandbox/") || inside.startsWith("..")
      ? Either.left("a child's module must be in /sandbox")
      : Either.right(join(sandbox, inside))
  },
  startWorker: (data, events) => {
    const worker = new Worker(workerSource, { eval: true, workerData: data })
    worker.on("message", events.message)
    worker.on("error", (error) => events.failed(error.message))
    worker.on("exit", events.exited)
    return worker
  }
}

/**
 * A host with its kernel, for the life of the scope: closing it terminates
 * every process and removes the sandboxes it created.
 *
 * @example
 * ```ts
 * import { NodeWosHost } from "@duende/platform-wos"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const host = yield* NodeWosHost.make({ cpus: 1 })
 *   const counter = yield* host.spawn({ name: "counter", module: "counter.wasm", priority: 2 })
 *   yield* counter.awaitReady
 *   yield* host.signal(counter.pid, 15)
 *   return yield* counter.awaitExit // { code: 0, ... }
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<WosHost, never, Scope.Scope> =>
  Host.make(platform, options)

/**
 * The host as a scoped layer.
 *
 * @example
 * ```ts
 * import { NodeWosHost } from "@duende/platform-wos"
 *
 * const host = NodeWosHost.layer({ cpus: 2, quantum: "5 millis" })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<WosHost> => Layer.scoped(WosHost, make(options))
