/**
 * The Web Worker of one WOS process in a browser (`BrowserWosHost`'s `worker`
 * option names where this script is served): it takes the process from the
 * page's first message and runs it with WASI from `@bjorn3/browser_wasi_shim`
 * and the `duende` imports shared with the Node host. Built self-contained
 * (`dist/browser-worker.js`, the shim inside).
 *
 * @example
 * ```ts
 * // Served beside the page; the page's host starts one per process:
 * import { BrowserWosHost } from "@duende/platform-wos/browser"
 *
 * const host = BrowserWosHost.make({ worker: "/browser-worker.js" })
 * ```
 *
 * @since 0.1.0
 */
import { ConsoleStdout, File, OpenFile, PreopenDirectory, WASI, wasi as defs } from "@bjorn3/browser_wasi_shim"
import type { WorkerData, WorkerMessage } from "./internal/control.js"
import { type Call, runProcess } from "./internal/process.js"

interface WorkerScope {
  onmessage: ((event: { readonly data: WorkerData }) => void) | null
  postMessage(message: WorkerMessage): void
}
const scope = globalThis as unknown as WorkerScope

/**
 * `poll_oneoff` for one clock subscription (`usleep`, `nanosleep`), sleeping in
 * `Atomics.wait` where the shim busy-waits; anything else goes to the shim.
 */
const sleeping = (wasi: WASI): Call => {
  const nap = new Int32Array(new SharedArrayBuffer(4))
  const base = wasi.wasiImport.poll_oneoff as Call
  return (into, out, count, events) => {
    const view = new DataView((wasi.inst.exports.memory as WebAssembly.Memory).buffer)
    const subscription = count === 1 ? defs.Subscription.read_bytes(view, into!) : undefined
    if (subscription === undefined || subscription.eventtype !== defs.EVENTTYPE_CLOCK) {
      return base(into!, out!, count!, events!)
    }
    const now = subscription.clockid === defs.CLOCKID_MONOTONIC
      ? BigInt(Math.round(performance.now() * 1e6))
      : BigInt(Date.now()) * 1_000_000n
    const absolute = (subscription.flags & defs.SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME) !== 0
    const nanos = absolute ? subscription.timeout - now : subscription.timeout
    if (nanos > 0n) Atomics.wait(nap, 0, 0, Number(nanos) / 1e6)
    new defs.Event(subscription.userdata, defs.ERRNO_SUCCESS, defs.EVENTTYPE_CLOCK).write_bytes(view, out!)
    view.setUint32(events!, 1, true)
    return defs.ERRNO_SUCCESS
  }
}

scope.onmessage = (event) => {
  scope.onmessage = null
  const data = event.data
  const ignore = new ConsoleStdout(() => {}) // fds 1 and 2 are captured before they get here
  const wasi = new WASI(
    [...data.args],
    Object.entries(data.env).map(([name, value]) => `${name}=${value}`),
    [new OpenFile(new File([])), ignore, ignore, new PreopenDirectory(data.sandbox, new Map())]
  )
  runProcess(data, {
    post: (message) => scope.postMessage(message),
    preview1: { ...(wasi.wasiImport as Record<string, Call>), poll_oneoff: sleeping(wasi) },
    start: (instance) => wasi.start(instance as Parameters<WASI["start"]>[0])
  })
}
