// WOS: the cost of the kernel's parts, measured on real WebAssembly processes (C built with clang
// for wasm32-wasi here), beside node:wasi running the same module bare.
//   node bench/wos.mjs [--json] [--runs 15]
// Needs the package built (npx turbo run build --filter=@duende/platform-wos...) and clang with wasi-libc.
import { NodeWosHost, WosKernel } from "@duende/platform-wos"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { WASI } from "node:wasi"
import { Worker } from "node:worker_threads"
import { breakdown, option, report } from "./lib.mjs"

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, "..")
const runs = option("runs", 15)
const out = mkdtempSync(join(tmpdir(), "duende-wos-bench-"))
const build = (source, name) => {
  const target = join(out, `${name}.wasm`)
  execFileSync("clang", [
    "--target=wasm32-wasi", "-O2", "-Wl,--import-memory", "-Wl,--export-table",
    `-I${join(root, "packages/platform-wos/include")}`, "-o", target, source
  ])
  return target
}
const wasm = {
  calls: build(join(here, "fixtures/wos-calls.c"), "calls"),
  counter: build(join(root, "examples/wos-counter/counter.c"), "counter"),
  hello: build(join(root, "packages/platform-wos/test/fixtures/output.c"), "hello")
}
const now = () => Number(process.hrtime.bigint()) / 1e6

/** Runs a module bare under node:wasi on this thread, `duende` imports as no-op stubs; its stdout. */
const bare = (path, args) => {
  const file = join(out, "bare.out")
  const fd = openSync(file, "w")
  const wasi = new WASI({ version: "preview1", args: ["bare", ...args], env: {}, stdout: fd, returnOnExit: true })
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 256 })
  const module = new WebAssembly.Module(readFileSync(path))
  const noop = () => 0
  const instance = new WebAssembly.Instance(module, {
    ...wasi.getImportObject(),
    env: { memory },
    duende: { yield: noop, signal_pending: noop, sigaction: noop, ready: noop, health: noop }
  })
  wasi.start({ exports: { ...instance.exports, memory } })
  closeSync(fd)
  return readFileSync(file, "utf8")
}

/** The same module bare in a fresh worker thread, as the host runs it: ms until it exited. */
const bareWorker = (path) =>
  new Promise((resolve, reject) => {
    const started = now()
    const source = `
      const { workerData } = require("node:worker_threads")
      const { WASI } = require("node:wasi")
      const fs = require("node:fs")
      const wasi = new WASI({ version: "preview1", args: ["bare"], env: {}, stdout: fs.openSync("/dev/null", "w"), stderr: fs.openSync("/dev/null", "w"), returnOnExit: true })
      const memory = new WebAssembly.Memory({ initial: 2, maximum: 256 })
      const instance = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(workerData)), { ...wasi.getImportObject(), env: { memory } })
      wasi.start({ exports: { ...instance.exports, memory } })`
    const worker = new Worker(source, { eval: true, workerData: path })
    worker.once("exit", () => resolve(now() - started))
    worker.once("error", reject)
  })

/** Two threads passing a turn through Atomics.wait/notify on shared memory: µs one way. */
const pingPong = (rounds) =>
  new Promise((resolve) => {
    const shared = new SharedArrayBuffer(8)
    const turn = new Int32Array(shared)
    const worker = new Worker(`
      const { workerData } = require("node:worker_threads")
      const turn = new Int32Array(workerData.shared)
      for (let i = 0; i < workerData.rounds; i++) {
        Atomics.wait(turn, 0, 0)
        Atomics.store(turn, 0, 0)
        Atomics.store(turn, 1, 1)
        Atomics.notify(turn, 1)
      }`, { eval: true, workerData: { shared, rounds } })
    worker.once("online", () => {
      const started = now()
      for (let i = 0; i < rounds; i++) {
        Atomics.store(turn, 0, 1)
        Atomics.notify(turn, 0)
        Atomics.wait(turn, 1, 0)
        Atomics.store(turn, 1, 0)
      }
      resolve(((now() - started) * 1000) / rounds / 2)
      void worker.terminate()
    })
  })

const calls = 5_000_000
const program = Effect.scoped(Effect.gen(function*() {
  const host = yield* NodeWosHost.make({ cpus: 1 })

  // Host call: duende_yield through the host's checkpoint (inside a worker) vs a no-op import bare.
  const hosted = []
  const bareCall = []
  for (let i = 0; i < 5; i++) {
    const proc = yield* host.spawn({ name: "calls", module: wasm.calls, args: [String(calls)] })
    yield* proc.awaitExit
    hosted.push(Number((yield* proc.logs)[0].text))
    bareCall.push(Number(bare(wasm.calls, [String(calls)])))
  }
  report("WOS host call (duende_yield)", { "WOS host (checkpoint)": hosted, "node:wasi bare (no-op import)": bareCall }, "node:wasi bare (no-op import)", "ns")

  // The primitive a context switch is made of.
  const oneWay = []
  for (let i = 0; i < 5; i++) oneWay.push(yield* Effect.promise(() => pingPong(20_000)))
  breakdown("Atomics.wait/notify between two threads, one way (a held process woken)", { "one way": oneWay }, "µs")

  // spawn → exit of the same module: the host vs a bare worker running node:wasi.
  const spawnExit = { "WOS host spawn → exit": [], "bare worker + node:wasi": [] }
  for (let i = 0; i < runs; i++) {
    const started = now()
    const proc = yield* host.spawn({ name: "hello", module: wasm.hello })
    yield* proc.awaitExit
    spawnExit["WOS host spawn → exit"].push(now() - started)
    spawnExit["bare worker + node:wasi"].push(yield* Effect.promise(() => bareWorker(wasm.hello)))
  }
  report("spawn → exit of a small C program", spawnExit, "bare worker + node:wasi")

  // spawn → ready of the counter daemon, and a signal's round trip (USR1 → its handler's line).
  const phases = { "spawn → ready": [], "USR1 → handler's line": [], "TERM → exit 0": [] }
  for (let i = 0; i < runs; i++) {
    let started = now()
    const proc = yield* host.spawn({ name: "counter", module: wasm.counter })
    yield* proc.awaitReady
    phases["spawn → ready"].push(now() - started)
    started = now()
    yield* host.signal(proc.pid, 10)
    for (;;) {
      if ((yield* proc.logs).some((line) => line.text.startsWith("USR1"))) break
      yield* Effect.sleep("100 micros")
    }
    phases["USR1 → handler's line"].push(now() - started)
    started = now()
    yield* host.signal(proc.pid, 15)
    const exit = yield* proc.awaitExit
    if (exit.code !== 0) throw new Error(`counter exited ${exit.code}`)
    phases["TERM → exit 0"].push(now() - started)
  }
  breakdown("the counter daemon under the host (1 CPU, 10 ms slices, it sleeps 1 ms per count)", phases)

  // Memory: the kernel's table with 1000 processes; real processes, each a worker thread.
  globalThis.gc?.()
  const before = process.memoryUsage().heapUsed
  const kernel = yield* WosKernel.make()
  for (let i = 0; i < 998; i++) yield* kernel.spawn({ name: `p${i}` })
  globalThis.gc?.()
  const table = (process.memoryUsage().heapUsed - before) / 1024
  const rssBefore = process.memoryUsage().rss
  const alive = []
  for (let i = 0; i < 20; i++) {
    const proc = yield* host.spawn({ name: "counter", module: wasm.counter, memory: 1024 * 1024 })
    alive.push(proc)
  }
  for (const proc of alive) yield* proc.awaitReady
  const perProcess = (process.memoryUsage().rss - rssBefore) / 20 / 1024 / 1024
  breakdown("memory", {
    "kernel table, 1000 processes (KiB of heap)": [table],
    "a running WASM process: worker + instance (MiB of RSS each, 20 counters)": [perProcess]
  }, "")
}))

await Effect.runPromise(program)
rmSync(out, { recursive: true, force: true })
