/**
 * The WOS kernel in a browser, running real WebAssembly processes: each
 * process is a WASI preview1 command in its own Web Worker (module workers),
 * with WASI from `@bjorn3/browser_wasi_shim`, and the same `duende` imports,
 * memory cap, scheduling and signals as `NodeWosHost` (the code inside the
 * worker is the same: `include/duende_wos.h` holds for both).
 *
 * - **Cross-origin isolation is required.** The control block a process waits
 *   on (`Atomics.wait`) is a `SharedArrayBuffer`, which a page has only when
 *   served with `Cross-Origin-Opener-Policy: same-origin` and
 *   `Cross-Origin-Embedder-Policy: require-corp`; without them `make` fails
 *   with `HostFailed` saying so.
 * - **The worker script** is `@duende/platform-wos/browser-worker`
 *   (`dist/browser-worker.js`, self-contained): serve it beside the page and
 *   give its URL as `worker`.
 * - **Modules** are URLs, fetched and compiled once on the page and sent to
 *   the worker compiled.
 * - **Files**: each process's `/sandbox` is an empty directory in its worker's
 *   memory (it can create, write and read files there); `PWD` is `/sandbox`.
 *   stdin is empty. There is no shared sandbox, so `duende_spawn` returns -1
 *   (a "wos:" line in the parent's log says why), and a spawn's `sandbox`
 *   option is refused.
 * - **Sleeping** (`poll_oneoff` on a clock: `usleep`, `nanosleep`) waits in
 *   `Atomics.wait`, Blocked in the kernel; the shim's own busy-waits.
 *
 * @since 0.1.0
 */
import { WASI } from "@bjorn3/browser_wasi_shim"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { WorkerMessage } from "./internal/control.js"
import * as Host from "./internal/host.js"
import * as WosError from "./WosError.js"
import * as WosHost from "./WosHost.js"

/**
 * The browser host's options: the kernel's, and the URL of the worker script.
 *
 * @example
 * ```ts
 * import type { BrowserWosHost } from "@duende/platform-wos/browser"
 *
 * const options: BrowserWosHost.Options = { cpus: 2, worker: new URL("./browser-worker.js", import.meta.url) }
 * ```
 *
 * @since 0.1.0
 */
export interface Options extends WosHost.Options {
  /** Where `@duende/platform-wos/browser-worker` (dist/browser-worker.js) is served. */
  readonly worker: string | URL
}

/** The part of a Web Worker the host uses (a Node package does not load lib.dom). */
interface WebWorker {
  postMessage(message: unknown): void
  terminate(): void
  onmessage: ((event: { readonly data: WorkerMessage }) => void) | null
  onerror: ((event: { readonly message: string; preventDefault(): void }) => void) | null
}
interface Browser {
  readonly Worker?: new(url: string | URL, options: { readonly type: "module"; readonly name: string }) => WebWorker
  readonly crossOriginIsolated?: boolean
  readonly SharedArrayBuffer?: unknown
}

const noSandbox = "the browser host has no directories (each process's /sandbox is in its worker's memory): leave sandbox out"

const platform = (worker: string | URL, WorkerClass: NonNullable<Browser["Worker"]>): Host.Platform => ({
  read: async (url) => {
    const response = await fetch(url)
    if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${response.statusText}`)
    return new Uint8Array(await response.arrayBuffer())
  },
  preview1: new Set(Object.keys(new WASI([], [], []).wasiImport)),
  sandbox: (given) =>
    given === undefined
      ? Effect.succeed({ path: "/sandbox", own: false })
      : Effect.fail(new WosError.HostFailed({ reason: `sandbox ${given}: ${noSandbox}` })),
  removeSandbox: async () => {},
  childModule: () =>
    Either.left("the browser host cannot spawn children: a sandbox is one worker's memory, which a child's worker cannot see"),
  startWorker: (data, events) => {
    const web = new WorkerClass(worker, { type: "module", name: data.args[0] ?? "wos" })
    web.onmessage = (event) => events.message(event.data)
    web.onerror = (event) => {
      event.preventDefault()
      events.failed(event.message)
    }
    web.postMessage(data)
    return { terminate: () => web.terminate() }
  }
})

/**
 * A host with its kernel in this page, for the life of the scope: closing it
 * terminates every process's worker. Fails when the page is not
 * cross-origin isolated or has no Web Workers.
 *
 * @example
 * ```ts
 * import { BrowserWosHost } from "@duende/platform-wos/browser"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const host = yield* BrowserWosHost.make({ cpus: 2, worker: "/browser-worker.js" })
 *   const counter = yield* host.spawn({ name: "counter", module: "/counter.wasm", args: ["5"] })
 *   yield* counter.awaitReady
 *   yield* host.signal(counter.pid, 15)
 *   return yield* counter.awaitExit // { code: 0, reason: "exit 0", ... }
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<WosHost.WosHost, WosError.HostFailed, Scope.Scope> =>
  Effect.suspend(() => {
    const browser = globalThis as Browser
    if (browser.Worker === undefined) {
      return Effect.fail(new WosError.HostFailed({ reason: "this page has no Web Workers" }))
    }
    if (browser.SharedArrayBuffer === undefined || browser.crossOriginIsolated === false) {
      return Effect.fail(
        new WosError.HostFailed({
          reason: "SharedArrayBuffer is unavailable: serve the page cross-origin isolated " +
            "(Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)"
        })
      )
    }
    return Host.make(platform(options.worker, browser.Worker), options)
  })

/**
 * The host as a scoped layer.
 *
 * @example
 * ```ts
 * import { BrowserWosHost } from "@duende/platform-wos/browser"
 *
 * const host = BrowserWosHost.layer({ cpus: 2, worker: "/browser-worker.js" })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<WosHost.WosHost, WosError.HostFailed> =>
  Layer.scoped(WosHost.WosHost, make(options))
