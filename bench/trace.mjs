// What tracing costs the traced daemon: an HTTP server (plain node:http, a child process) answers
// --requests sequential requests, each on a new connection, untraced, under bare strace
// (`strace -f -ttt -T -o /dev/null -p PID`, the peer: what people run by hand), and under Duende's
// SyscallTrace (the same strace, its output parsed into events, consumed as a stream, or folded
// into a summary), each tracer in a process of its own. Interleaved rounds; medians of --rounds (default 5) after two warm-up rounds;
// ratios against the untraced server. Attaching and detaching are outside the timed part.
// strace's cost is mostly its stops and writes per call: writing into a pipe that a reader drains
// (what any live view of a trace needs) costs more than writing to /dev/null.
//   node bench/trace.mjs [--requests 300] [--rounds 5] [--json]
import { ProcessTree } from "@duende/core/manager"
import { spawn, spawnSync } from "node:child_process"
import { request } from "node:http"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { interleave, report } from "./lib.mjs"

const here = dirname(fileURLToPath(import.meta.url))
const arg = (name, fallback) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback)
const requests = arg("--requests", 300)
const rounds = arg("--rounds", 5)

if (spawnSync("strace", ["-V"]).status !== 0) {
  console.error("trace bench: strace is not installed (apt-get install strace)")
  process.exit(1)
}

const port = 20_000 + Math.floor(Math.random() * 20_000)
const server = spawn(process.execPath, ["-e", `require("node:http").createServer((_, res) => res.end("hello\\n")).listen(${port}, "127.0.0.1", () => console.log("up"))`], {
  stdio: ["ignore", "pipe", "inherit"]
})
await new Promise((resolve) => server.stdout.once("data", resolve))
const pid = server.pid
const startedAt = ProcessTree.startTime(pid)

const once = () =>
  new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent: false }, (res) => {
      res.resume()
      res.on("end", resolve)
    })
    req.on("error", reject)
    req.end()
  })
/** ms for `requests` sequential requests. */
const load = async () => {
  const start = process.hrtime.bigint()
  for (let i = 0; i < requests; i++) await once()
  return Number(process.hrtime.bigint() - start) / 1e6
}

const bareStrace = async () => {
  const child = spawn("strace", ["-f", "-ttt", "-T", "-o", "/dev/null", "-p", String(pid)], { stdio: ["ignore", "ignore", "pipe"] })
  let said = ""
  await new Promise((resolve) => child.stderr.on("data", (d) => (said += d) && said.includes("attached") && resolve()))
  const ms = await load()
  child.kill("SIGINT")
  await new Promise((resolve) => child.once("exit", resolve))
  return ms
}

/**
 * Duende's tracer in a process of its own, as `duende trace` runs (the client here must not share
 * a CPU with the parser): attaches, says so, consumes until SIGINT, then detaches.
 */
const tracer = (consume) => `
import { SyscallTrace } from "@duende/core/manager"
import { Deferred, Effect, Stream } from "effect"
Effect.runPromise(Effect.scoped(Effect.gen(function*() {
  const stop = yield* Deferred.make()
  process.once("SIGINT", () => Deferred.unsafeDone(stop, Effect.void))
  const events = yield* SyscallTrace.attach({ pid: ${pid}, startedAt: ${startedAt} })
  console.log("attached")
  yield* ${consume}(Stream.interruptWhenDeferred(events, stop))
}))).then(() => process.exit(0), (e) => { console.error(e); process.exit(1) })`

const duende = (consume) => async () => {
  const child = spawn(process.execPath, ["--input-type=module", "-e", tracer(consume)], { cwd: here, stdio: ["ignore", "pipe", "inherit"] })
  await new Promise((resolve) => child.stdout.once("data", resolve))
  const ms = await load()
  child.kill("SIGINT")
  const code = await new Promise((resolve) => child.once("exit", resolve))
  if (code !== 0) throw new Error(`the tracer exited ${code}`)
  return ms
}

try {
  const samples = await interleave([
    { name: "untraced", run: load },
    { name: "bare strace -o /dev/null", run: bareStrace },
    { name: "duende SyscallTrace, events", run: duende("Stream.runDrain") },
    { name: "duende SyscallTrace, summary", run: duende("SyscallTrace.summarize") }
  ], rounds)
  report(`${requests} sequential HTTP requests (a new connection each) to a traced node:http server`, samples, "untraced")
} finally {
  server.kill("SIGKILL")
}
