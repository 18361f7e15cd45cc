// `duende trace` as users run it, through the built CLI, against a real daemon under the real background
// supervisor (the http-counter example) and the real strace: a request's accept4/read/write as JSON lines,
// `--summary` counts (text and JSON), the daemon unchanged afterwards, Ctrl-C, a runc container's
// process traced through `--platform container`, bad flags as bad usage (exit 2),
// an unknown daemon, a platform without a tracer, and what `duende doctor` says about ptrace.
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { bin, runner } from "./helpers/cli.js"

const strace = ["/usr/bin/strace", "/bin/strace"].find(existsSync)
if (strace === undefined && process.env.DUENDE_REQUIRE_INTEGRATION === "1") throw new Error("strace is missing (apt-get install strace)")
if (strace === undefined) process.stderr.write("\n[duende] SKIPPING duende trace suite: strace is missing (apt-get install strace)\n")
const runc = ["/usr/sbin/runc", "/usr/bin/runc"].find(existsSync)
if (runc === undefined && process.env.DUENDE_REQUIRE_INTEGRATION === "1") throw new Error("runc is missing (apt-get install runc)")
if (runc === undefined) process.stderr.write("\n[duende] SKIPPING duende trace --platform container: runc is missing (apt-get install runc)\n")

const home = mkdtempSync(join(tmpdir(), "duende-cli-trace-"))
const env = { DUENDE_HOME: home }
const duende = runner(env)
const port = 20_000 + Math.floor(Math.random() * 20_000)
const example = join(__dirname, "..", "..", "..", "examples", "http-counter", "dist", "main.js")
/** One request on a connection of its own (each one an accept4). */
const get = (path: string) =>
  new Promise<string>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (c: string) => (body += c))
      res.on("end", () => resolve(body))
    })
    req.on("error", reject)
    req.end()
  })

/** `duende trace …` in the background; resolves once it says it is tracing, with its end to await. */
const traceInBackground = (...args: Array<string>) =>
  new Promise<{ pid: number; done: Promise<{ code: number | null; stdout: string; stderr: string }> }>((attached, failed) => {
    const child = spawn(process.execPath, [bin, "trace", ...args], { env: { ...process.env, ...env } })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => {
      stderr += d
      if (stderr.includes("Ctrl-C detaches")) attached({ pid: child.pid!, done })
    })
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      child.on("exit", (code) => resolve({ code, stdout, stderr })))
    void done.then((r) => failed(new Error(`duende trace ended before attaching: ${r.stderr}`)))
  })

let pid: number

describe.skipIf(strace === undefined)("duende trace", () => {
  beforeAll(async () => {
    const file = join(home, "counter.json")
    writeFileSync(file, JSON.stringify({
      name: "counter",
      command: ["node", example],
      env: { PORT: String(port) },
      shutdownTimeout: "5s",
      platform: { native: { ready: "notify" } }
    }))
    const started = await duende("start", file)
    expect(started.stderr).toBe("")
    pid = Number(/\(pid (\d+)\)/.exec(started.stdout)![1])
  })
  afterAll(async () => {
    await duende("shutdown")
  })

  it("prints a request's accept4, read and write as JSON lines, from the daemon's own pid", async () => {
    const trace = await traceInBackground("counter", "--filter", "network,read,write,writev", "--duration", "3s", "--json")
    expect(await get("/")).toBe("1\n")
    const { code, stderr, stdout } = await trace.done
    expect(code).toBe(0)
    expect(stderr).toBe(`duende: tracing counter (pid ${pid}) with strace; for 3s, Ctrl-C detaches\n`)
    const events = stdout.trim().split("\n").map((line) => JSON.parse(line))
    const calls = (name: string) => events.filter((e) => e._tag === "Syscall" && e.name === name)
    expect(calls("accept4").some((e) => Number(e.result) >= 0 && e.pid === pid)).toBe(true)
    expect(calls("read").some((e) => e.args.includes("GET / HTTP/1.1"))).toBe(true)
    expect([...calls("write"), ...calls("writev")].some((e) => e.args.includes("HTTP/1.1 200 OK"))).toBe(true)
    expect(calls("openat")).toEqual([])
    expect(events.every((e) => e.pid === pid && typeof e.at === "number")).toBe(true)
  })

  it("--summary counts calls per name (text, like strace -c, and JSON); the daemon is unchanged after", async () => {
    const text = await traceInBackground("counter", "--summary", "--filter", "network", "--duration", "3s")
    for (let i = 0; i < 4; i++) await get("/")
    const table = await text.done
    expect(table.code).toBe(0)
    const lines = table.stdout.split("\n")
    expect(lines[0]).toBe("% time     seconds  usecs/call     calls    errors syscall")
    const accept = lines.find((l) => / accept4$/.test(l))
    expect(accept).toBeDefined()
    // columns: share, seconds, µs/call, calls, errors?, name
    expect(Number(accept!.trim().split(/\s+/)[3])).toBeGreaterThanOrEqual(4)
    expect(lines.some((l) => / total$/.test(l))).toBe(true)
    expect(table.stdout).toMatch(new RegExp(`^pids ${pid}; `, "m"))

    const json = await traceInBackground("counter", "--summary", "--json", "--duration", "3s")
    for (let i = 0; i < 3; i++) await get("/")
    const summary = JSON.parse((await json.done).stdout)
    expect(summary.calls.find((c: { name: string }) => c.name === "accept4").calls).toBeGreaterThanOrEqual(3)
    expect(summary.totalCalls).toBe(summary.calls.reduce((n: number, c: { calls: number }) => n + c.calls, 0))
    expect(summary.pids).toEqual([pid])

    const status = JSON.parse((await duende("status", "counter", "--json")).stdout)
    expect(status.pid).toBe(pid)
    expect(status.restarts).toBe(0)
    expect(await get("/healthz")).toMatch(/^ok/)
    expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^TracerPid:\s+0$/m)
  })

  it("Ctrl-C ends the trace: the summary still prints, strace detaches, the daemon runs on", async () => {
    const trace = await traceInBackground("counter", "--summary", "--filter", "accept4")
    await get("/")
    process.kill(trace.pid, "SIGINT") // the trace command only (a terminal's Ctrl-C also reaches strace)
    const { code, stdout } = await trace.done
    expect(code).toBe(0)
    expect(stdout).toMatch(/ accept4\n/)
    expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^TracerPid:\s+0$/m)
    expect(await get("/healthz")).toMatch(/^ok/)
  })

  it("refuses bad flags as bad usage, names an unknown daemon, and a platform that cannot trace", async () => {
    const badFilter = await duende("trace", "counter", "--filter", "file,Bad!")
    expect(badFilter.code).toBe(2)
    expect(badFilter.stderr).toMatch(/^duende: invalid trace options: filter\[1\]: /)
    const badDuration = await duende("trace", "counter", "--duration", "soon")
    expect(badDuration.code).toBe(2)
    expect(badDuration.stderr).toMatch(/duration: expected a trace's duration such as "30s"/)
    const unknown = await duende("trace", "nope")
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/nope/)
    // A platform that cannot trace says why: launchd, installed through its launchctl stand-in.
    const root = mkdtempSync(join(tmpdir(), "duende-cli-trace-launchd-"))
    mkdirSync(join(root, "home"))
    const config = join(root, "agent.json")
    writeFileSync(config, JSON.stringify({ name: "agent", command: ["/bin/sleep", "100"], shutdownTimeout: "5s" }))
    const standIn = join(__dirname, "..", "..", "platform-launchd", "test", "stand-in")
    const onLaunchd = runner({
      ...env,
      HOME: join(root, "home"),
      LAUNCHD_STAND_IN_STATE: join(root, "state"),
      PATH: `${standIn}:${process.env.PATH ?? "/usr/bin:/bin"}`
    })
    expect((await onLaunchd("install", config, "--platform", "launchd")).code).toBe(0)
    const launchd = await onLaunchd("trace", "agent", "--platform", "launchd")
    expect(launchd.code).toBe(1)
    expect(launchd.stderr).toMatch(/^duende: cannot trace daemons on launchd: launchd runs daemons on macOS, where strace does not exist/m)
    expect((await onLaunchd("rm", "agent", "--platform", "launchd")).code).toBe(0)
    rmSync(root, { recursive: true, force: true })
  })

  it.skipIf(runc === undefined)("--platform container: traces the runc container's process from the host", async () => {
    const repository = join(__dirname, "..", "..", "..")
    const boxPort = port + 1
    const config = join(home, "box.json")
    writeFileSync(config, JSON.stringify({
      name: "traced-box",
      command: [process.execPath, "dist/main.js"],
      workingDirectory: join(repository, "examples", "http-counter"),
      env: { PORT: String(boxPort), HOST: "127.0.0.1" },
      shutdownTimeout: "10s",
      // The host's network, so that this test can reach it (runc's default is none).
      platform: { container: { network: "host", mounts: [{ type: "bind", source: repository, target: repository, readOnly: true }] } }
    }))
    const on = ["--platform", "container", "--driver", "runc"]
    const started = await duende("start", config, ...on)
    expect(started.code).toBe(0)
    const boxPid = Number(/pid (\d+)/.exec(started.stdout)![1])
    try {
      const trace = await traceInBackground("traced-box", ...on, "--filter", "network", "--duration", "3s", "--json")
      const answer = await new Promise<string>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port: boxPort, path: "/", agent: false }, (res) => {
          let body = ""
          res.on("data", (c) => (body += c))
          res.on("end", () => resolve(body))
        })
        req.on("error", reject)
        req.end()
      })
      expect(answer).toBe("1\n")
      const { code, stderr, stdout } = await trace.done
      expect(code).toBe(0)
      expect(stderr).toBe("duende: tracing traced-box on container (duende-traced-box) with strace; for 3s, Ctrl-C detaches\n")
      const events = stdout.trim().split("\n").map((line) => JSON.parse(line))
      expect(events.some((e) => e._tag === "Syscall" && e.name === "accept4" && Number(e.result) >= 0 && e.pid === boxPid)).toBe(true)
      expect(readFileSync(`/proc/${boxPid}/status`, "utf8")).toMatch(/^TracerPid:\s+0$/m)
    } finally {
      expect((await duende("rm", "traced-box", ...on, "--timeout", "20")).code).toBe(0)
    }
  })

  it("duende doctor reports strace, ptrace_scope and CAP_SYS_PTRACE", async () => {
    const text = await duende("doctor")
    expect(text.stdout).toMatch(new RegExp(`^trace       ${strace}: `, "m"))
    const report = JSON.parse((await duende("doctor", "--json")).stdout)
    const capEff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))![1]}`)
    expect(report.trace.strace).toBe(strace)
    expect(report.trace.capSysPtrace).toBe(((capEff >> 19n) & 1n) === 1n)
    const yama = "/proc/sys/kernel/yama/ptrace_scope"
    expect(report.trace.ptraceScope).toBe(existsSync(yama) ? Number(readFileSync(yama, "utf8")) : undefined)
  })
})
