// Real processes, sampled by the sampler and read from /proc directly by the
// test: memory must agree within 1 %, cpu % within 5 %.
import { Integration } from "@duende/testing"
import { afterAll, describe, expect, it } from "vitest"
import * as Effect from "effect/Effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ProcessSampler from "../src/ProcessSampler.js"
import * as ProcessSource from "../src/ProcessSource.js"

const gate = Integration.check(
  Integration.command("test", ["-r", "/proc/self/stat"], "no /proc here (not Linux)"),
  Integration.tool("ps", "apt-get install procps")
)

const children = new Set<ChildProcess>()
const dir = mkdtempSync(join(tmpdir(), "duende-observe-procfs-"))
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  rmSync(dir, { recursive: true, force: true })
})

/** Starts `node -e script` and resolves once it printed "ready". */
const start = (script: string) =>
  new Promise<ChildProcess & { pid: number }>((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] })
    children.add(child)
    let out = ""
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes("ready")) resolve(child as ChildProcess & { pid: number })
    })
    child.once("exit", (code) => reject(new Error(`child exited ${code} before ready`)))
  })

// Direct readings of /proc, independent of the package's parser.
const statFields = (pid: number) => {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8")
  return text.slice(text.lastIndexOf(")") + 2).split(" ")
}
const cpuSeconds = (pid: number) => {
  const f = statFields(pid)
  return (Number(f[11]) + Number(f[12])) / 100
}
const status = (pid: number, key: string) =>
  Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1])
const rssBytes = (pid: number) => status(pid, "VmRSS") * 1024
const descendants = (root: number): Array<number> => {
  const parents = new Map<number, number>()
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue
    try {
      parents.set(Number(name), Number(statFields(Number(name))[1]))
    } catch {
      // gone meanwhile
    }
  }
  const found = [root]
  for (let i = 0; i < found.length; i++) {
    for (const [pid, ppid] of parents) if (ppid === found[i] && !found.includes(pid)) found.push(pid)
  }
  return found
}
const within = (actual: number, expected: number, relative: number) =>
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(expected * relative)

const run = <A, E>(effect: Effect.Effect<A, E, ProcessSampler.ProcessSampler>) =>
  Effect.runPromise(Effect.provide(effect, ProcessSampler.layer()))
const now = () => Number(process.hrtime.bigint()) / 1e9

const allocate = (mb: number) =>
  `const b = Buffer.alloc(${mb} * 1024 * 1024); b.fill(1); globalThis.keep = b; console.log("ready"); setInterval(() => {}, 1000)`
const burn = `console.log("ready"); for (;;) {}`

describe.skipIf(!gate.ok)(`process sampling against /proc${gate.label}`, () => {
  it("layer picks /proc on Linux", async () => {
    const kind = await Effect.runPromise(Effect.map(ProcessSource.ProcessSource, (s) => s.kind).pipe(Effect.provide(ProcessSource.layer)))
    expect(kind).toBe("procfs")
  })

  it("resident memory of a process holding 200 MB agrees with VmRSS within 1 %; threads and fds exactly", async () => {
    const child = await start(allocate(200))
    const sample = await run(Effect.flatMap(ProcessSampler.ProcessSampler, (s) => s.sample(child.pid)))
    within(sample.residentBytes, rssBytes(child.pid), 0.01)
    expect(sample.residentBytes).toBeGreaterThan(200 * 1024 * 1024)
    expect(sample.threads).toBe(status(child.pid, "Threads"))
    expect(sample.openFds).toBe(readdirSync(`/proc/${child.pid}/fd`).length)
    expect(sample.command).toBe("node")
    expect(sample.state).toMatch(/^[SR]$/)
    expect(sample.pids).toEqual([child.pid])
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))![1])
    expect(sample.startedAt).toBe(btime * 1000 + Number(statFields(child.pid)[19]) * 10)
    child.kill("SIGKILL")
  })

  it("cpu % of a process burning a core agrees with /proc within 5 % over two seconds", async () => {
    const child = await start(burn)
    const { sampler, first, reference } = await run(Effect.gen(function*() {
      const sampler = yield* ProcessSampler.ProcessSampler
      const first = yield* sampler.sample(child.pid)
      return { sampler, first, reference: { cpu: cpuSeconds(child.pid), at: now() } }
    }))
    expect(first.cpuPercent).toBeUndefined()
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    const second = await Effect.runPromise(sampler.sample(child.pid))
    const expected = ((cpuSeconds(child.pid) - reference.cpu) / (now() - reference.at)) * 100
    expect(expected).toBeGreaterThan(20) // it did burn, even on a busy machine
    within(second.cpuPercent!, expected, 0.05)
    within(second.cpuSeconds, cpuSeconds(child.pid), 0.02)
    child.kill("SIGKILL")
  })

  it("a process tree: memory sums its members within 1 %, cpu % counts the busy grandchild", async () => {
    const parent = await start(`
      const { spawn } = require("node:child_process")
      const kids = [
        spawn(process.execPath, ["-e", ${JSON.stringify(allocate(60))}], { stdio: ["ignore", "pipe", "inherit"] }),
        spawn(process.execPath, ["-e", ${JSON.stringify(burn)}], { stdio: ["ignore", "pipe", "inherit"] })
      ]
      let ready = 0
      for (const kid of kids) kid.stdout.on("data", () => { if (++ready === kids.length) console.log("ready") })
      setInterval(() => {}, 1000)
    `)
    const members = descendants(parent.pid)
    expect(members.length).toBe(3)
    const { sampler, first, reference } = await run(Effect.gen(function*() {
      const sampler = yield* ProcessSampler.ProcessSampler
      const first = yield* sampler.sampleTree(parent.pid)
      const cpu = members.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
      return { sampler, first, reference: { cpu, at: now() } }
    }))
    expect([...first.pids].sort()).toEqual([...members].sort())
    within(first.residentBytes, members.reduce((sum, pid) => sum + rssBytes(pid), 0), 0.01)
    expect(first.residentBytes).toBeGreaterThan(60 * 1024 * 1024)
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    const second = await Effect.runPromise(sampler.sampleTree(parent.pid))
    const cpuNow = members.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
    const expected = ((cpuNow - reference.cpu) / (now() - reference.at)) * 100
    expect(expected).toBeGreaterThan(20)
    within(second.cpuPercent!, expected, 0.05)
    expect(second.threads).toBe(members.reduce((sum, pid) => sum + status(pid, "Threads"), 0))
    for (const pid of members) process.kill(pid, "SIGKILL")
  })

  it("io bytes: a process that wrote 8 MiB through write syscalls shows them", async () => {
    const file = join(dir, "written")
    const child = await start(`
      const fs = require("node:fs")
      const fd = fs.openSync(${JSON.stringify(file)}, "w")
      const chunk = Buffer.alloc(1024 * 1024, 7)
      for (let i = 0; i < 8; i++) fs.writeSync(fd, chunk)
      fs.fsyncSync(fd)
      fs.closeSync(fd)
      console.log("ready")
      setInterval(() => {}, 1000)
    `)
    const sample = await run(Effect.flatMap(ProcessSampler.ProcessSampler, (s) => s.sample(child.pid)))
    const io = readFileSync(`/proc/${child.pid}/io`, "utf8")
    const wchar = Number(/^wchar: (\d+)/m.exec(io)![1])
    expect(sample.ioWriteBytes).toBe(wchar)
    expect(sample.ioWriteBytes).toBeGreaterThanOrEqual(8 * 1024 * 1024)
    expect(sample.diskWriteBytes).toBe(Number(/^write_bytes: (\d+)/m.exec(io)![1]))
    expect(sample.ioReadBytes).toBe(Number(/^rchar: (\d+)/m.exec(io)![1]))
    child.kill("SIGKILL")
  })

  it("the ps fallback agrees on memory within 1 % and on cpu time within its 1 s resolution", async () => {
    const child = await start(`${allocate(100).replace("setInterval(() => {}, 1000)", "for (;;) {}")}`)
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    const viaPs = await Effect.runPromise(
      Effect.provideService(
        Effect.flatMap(ProcessSampler.make(), (s) => s.sample(child.pid)),
        ProcessSource.ProcessSource,
        ProcessSource.psSource
      )
    )
    within(viaPs.residentBytes, rssBytes(child.pid), 0.01)
    expect(Math.abs(viaPs.cpuSeconds - cpuSeconds(child.pid))).toBeLessThanOrEqual(1.01)
    expect(viaPs.state).toBe("R")
    expect(viaPs.command).toBe("node")
    expect(viaPs.threads).toBeUndefined()
    expect(Math.abs(viaPs.startedAt! - Date.now())).toBeLessThan(10_000)
    const table = await Effect.runPromise(ProcessSource.psSource.table)
    expect(table.find((row) => row.pid === child.pid)?.ppid).toBe(process.pid)
    child.kill("SIGKILL")
  })

  it("a process that is gone: ProcessNotFound from both sources", async () => {
    const child = await start(`console.log("ready")`)
    await new Promise((resolve) => child.once("exit", resolve))
    for (const source of [ProcessSource.procfsSource, ProcessSource.psSource]) {
      const error = await Effect.runPromise(
        Effect.flip(Effect.provideService(Effect.flatMap(ProcessSampler.make(), (s) => s.sample(child.pid)), ProcessSource.ProcessSource, source))
      )
      expect(error._tag).toBe("ProcessNotFound")
    }
  })
})
