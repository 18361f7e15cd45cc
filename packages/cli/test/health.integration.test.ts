// `duende health`, the container's HEALTHCHECK CMD: its answer comes from the daemon's real state.
// The project's example daemon runs as it would in a container (DUENDE_PLATFORM=container, so its
// runtime is @duende/platform-container's and it keeps its state file); a supervised daemon is
// asked by name.
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"

const bin = join(__dirname, "..", "bin", "duende.js")
const example = join(__dirname, "..", "..", "..", "examples", "http-counter")
const ticker = join(__dirname, "fixtures", "ticker.mjs")
const scratch = mkdtempSync(join(tmpdir(), "duende-health-"))
const children: Array<ChildProcess> = []

const duende = (env: Record<string, string>, ...args: Array<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }))
  })

const until = async <A>(f: () => Promise<A | undefined>, ms = 30_000): Promise<A> => {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const value = await f()
    if (value !== undefined) return value
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error("condition not met in time")
}

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL")
  const home = join(scratch, "home")
  await duende({ DUENDE_HOME: home }, "shutdown")
  const pidFile = join(home, "supervisor.pid")
  if (existsSync(pidFile)) {
    try {
      process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL")
    } catch {
      // gone
    }
  }
  rmSync(scratch, { recursive: true, force: true })
})

describe("duende health", () => {
  it("answers for the daemon of this container from its state: 1 with none, 0 once ready, 1 once it stopped", async () => {
    const stateDir = join(scratch, "state")
    const port = 20_000 + Math.floor(Math.random() * 20_000)
    const before = await duende({}, "health", "--state-dir", scratch)
    expect(before.code).toBe(1)
    expect(before.stdout).toMatch(/^no daemon state in /)

    const daemon = spawn(process.execPath, [join(example, "dist", "main.js")], {
      cwd: example,
      env: { ...process.env, DUENDE_PLATFORM: "container", DUENDE_STATE_DIR: stateDir, PORT: String(port), HOST: "127.0.0.1" },
      stdio: "ignore"
    })
    children.push(daemon)
    const exited = new Promise<number | null>((resolve) => daemon.once("exit", (code) => resolve(code)))

    const ready = await until(async () => {
      const result = await duende({}, "health", "--state-dir", stateDir, "--json")
      return result.code === 0 ? result : undefined
    })
    expect(JSON.parse(ready.stdout)).toEqual({
      exitCode: 0,
      reason: expect.stringMatching(new RegExp(`^(ready|healthy) \\(serving http://127\\.0\\.0\\.1:${port}\\)$`)),
      directory: stateDir
    })

    daemon.kill("SIGTERM")
    expect(await exited).toBe(143)
    const after = await duende({}, "health", "--state-dir", stateDir)
    expect(after.code).toBe(1)
    expect(after.stdout).toMatch(/^stopped/)
  }, 60_000)

  it("answers for a supervised daemon by name, and fails for an unknown one", async () => {
    const home = join(scratch, "home")
    const config = join(scratch, "ticker.json")
    writeFileSync(config, JSON.stringify({ name: "ticker", command: ["node", ticker], platform: { native: { ready: "started" } } }))
    expect((await duende({ DUENDE_HOME: home }, "start", config)).code).toBe(0)
    const healthy = await duende({ DUENDE_HOME: home }, "health", "ticker")
    expect(healthy).toMatchObject({ code: 0, stdout: "ticker: running\n" })
    expect((await duende({ DUENDE_HOME: home }, "stop", "ticker")).code).toBe(0)
    const stopped = await duende({ DUENDE_HOME: home }, "health", "ticker")
    expect(stopped).toMatchObject({ code: 1, stdout: expect.stringMatching(/^ticker: stopped/) })
    const unknown = await duende({ DUENDE_HOME: home }, "health", "nothing")
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/nothing/)
  }, 60_000)
})
