// The kernel in a real browser: the example page examples/wos-browser (built with esbuild for a
// browser, served cross-origin isolated on 127.0.0.1) in Debian's headless Chromium, driven with
// playwright-core. Two counters (examples/wos-counter, compiled by clang) run in Web Workers; the
// test reads their output and `ps` from the page, presses the page's TERM button and checks the
// handler ran and the process exited 0 while the other kept counting. A probe page
// (test/fixtures/browser-probe.ts) runs the Node host's fixture programs in the browser host: the
// same output and exit codes, the memory cap, KILL of a spinner, DUENDE_WOS_ABI seen by
// Platform.detect, modules refused. Without chromium (or clang)
// the suite skips loudly; with DUENDE_REQUIRE_INTEGRATION=1 it fails.
import { Platform } from "@duende/core"
import { Integration } from "@duende/testing"
import { chromium, type Browser, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { browserEntries, buildPage, bundle, serve } from "./helpers/page.js"
import { compile, requirements, sources } from "./helpers/wasm.js"
import type { SpawnOptions } from "../src/WosHost.js"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"


describe("the browser entries", () => {
  it("bundle for a browser: no node: module and no Node host in them", async () => {
    const out = mkdtempSync(join(tmpdir(), "wos-bundle-"))
    try {
      const metafile = await bundle(browserEntries, out)
      const inputs = Object.keys(metafile.inputs)
      expect(inputs.some((input) => input.endsWith("src/BrowserWosHost.ts"))).toBe(true)
      expect(inputs.some((input) => input.includes("browser_wasi_shim"))).toBe(true)
      expect(inputs.filter((input) => input.startsWith("node:") || /NodeWosHost|internal\/worker\.ts/.test(input))).toEqual([])
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  })

  it("a node: import in them fails the bundle (the check above can fail)", async () => {
    const out = mkdtempSync(join(tmpdir(), "wos-bundle-"))
    try {
      await expect(bundle({ node: join(__dirname, "../src/NodeWosHost.ts") }, out)).rejects.toThrow(/node:/)
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
  })
})

const gate = Integration.check(...requirements, Integration.tool("chromium", "apt-get install chromium"))

describe.runIf(gate.ok)(`WOS in headless Chromium${gate.label}`, () => {
  let browser: Browser
  let server: Awaited<ReturnType<typeof serve>>
  let page: Awaited<ReturnType<typeof buildPage>>
  const problems: Array<string> = []

  beforeAll(async () => {
    const [counter, output, ownMemory, grow, spin, env] = await Promise.all([
      compile(sources.counter),
      compile(sources.output),
      compile(sources.output, { importMemory: false }),
      compile(sources.grow),
      compile(sources.spin),
      compile(sources.env)
    ])
    page = await buildPage({ counter, output, "own-memory": ownMemory, grow, spin, env })
    server = await serve(page.directory)
    // Debian's chromium; --no-sandbox: its sandbox refuses to run as root.
    browser = await chromium.launch({ executablePath: Integration.which("chromium")!, headless: true, args: ["--no-sandbox"] })
  })
  afterAll(async () => {
    await browser?.close()
    await server?.close()
    page?.remove()
  })

  const open = async (path: string): Promise<Page> => {
    const tab = await browser.newPage()
    tab.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
    tab.on("console", (message) => {
      if (message.type() === "error") problems.push(`console: ${message.text()}`)
    })
    await tab.goto(server.url + path)
    return tab
  }
  const text = (tab: Page, selector: string) => tab.locator(selector).textContent().then((value) => value ?? "")
  // Expressions evaluated in the page are strings: this package's types have no DOM.
  const rows = (tab: Page) =>
    tab.evaluate(
      `Array.from(document.querySelectorAll("#ps tr"), (tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent))`
    ) as Promise<Array<Array<string>>>
  const isolated = (tab: Page) => tab.evaluate("crossOriginIsolated") as Promise<boolean>
  const soon = { timeout: 30_000, interval: 100 }

  it("boots the kernel with two WASM counters in Web Workers, shows ps and their output; TERM runs the handler, it exits 0", async () => {
    const tab = await open("")
    try {
      expect(await isolated(tab)).toBe(true)
      await tab.waitForSelector("#status[data-state=running]", { timeout: 30_000 })
      const status = await text(tab, "#status")
      const [, a, b] = status.match(/counter-a is pid (\d+), counter-b is pid (\d+)/)!.map(Number)
      expect([a, b]).toEqual([2, 3])

      // ps: kernel, init and both counters under init, each alive, at their priorities.
      const table = await rows(tab)
      expect(table.map((row) => [row[0], row[1], row[2], row[4]])).toEqual([
        ["0", "0", "kernel", "0"],
        ["1", "0", "init", "0"],
        ["2", "1", "counter-a", "3"],
        ["3", "1", "counter-b", "4"]
      ])
      for (const row of table.slice(2)) expect(row[3]).toMatch(/^(Running|Ready|Blocked)$/)

      // Both ran: they started with their own pid (WOS_PID) and count (a line every 100 counts).
      await expect.poll(() => text(tab, "#log"), soon).toMatch(/\[2\] count 100\n[^]*\[3\] count 100\n|\[3\] count 100\n[^]*\[2\] count 100\n/)
      const before = await text(tab, "#log")
      expect(before).toContain("[2] counter 2 started\n")
      expect(before).toContain("[3] counter 3 started\n")
      expect(before).toContain("[2] ready\n")

      await tab.click("#term")
      await tab.waitForSelector("#status[data-state=stopped]", { timeout: 30_000 })
      expect(await text(tab, "#status")).toBe("counter-a exited: exit 0")
      const after = await text(tab, "#log")
      // Its TERM handler ran: it stopped counting, wrote its count to /sandbox/count and exited 0.
      expect(after).toMatch(/\[2\] signal 15: stopping after \d+ counts\n\[2\] exited: exit 0 \(code 0\)\n/)
      expect(after).not.toMatch(/\[2\] \/sandbox\/count/)

      // init reaped counter-a; counter-b lives on and keeps counting.
      await expect.poll(() => rows(tab).then((table) => table.map((row) => row[2])), soon).toEqual([
        "kernel",
        "init",
        "counter-b"
      ])
      const counts = (log: string) => [...log.matchAll(/\[3\] count (\d+)/g)].map((m) => Number(m[1])).at(-1)!
      const last = counts(after)
      await expect.poll(() => text(tab, "#log").then(counts), soon).toBeGreaterThan(last)
      expect(problems).toEqual([])
    } finally {
      await tab.close()
    }
  })

  it("a page that is not cross-origin isolated gets an error saying which headers it needs", async () => {
    const tab = await open("plain/")
    try {
      expect(await isolated(tab)).toBe(false)
      await tab.waitForSelector("#status[data-state=failed]", { timeout: 30_000 })
      expect(await text(tab, "#status")).toBe(
        "WOS host: SharedArrayBuffer is unavailable: serve the page cross-origin isolated " +
          "(Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)"
      )
    } finally {
      await tab.close()
    }
  })
  interface Ran {
    readonly pid: number
    readonly code: number
    readonly signal: number | undefined
    readonly reason: string
    readonly logs: ReadonlyArray<string>
  }
  /** Runs a process in the probe page (test/fixtures/browser-probe.ts). */
  const run = (tab: Page, request: SpawnOptions, signal?: number) =>
    tab.evaluate(
      ([request, signal]) =>
        (globalThis as unknown as { wos: { run: (r: SpawnOptions, s?: number) => Promise<Ran | { error: string }> } })
          .wos.run(request, signal),
      [request, signal] as const
    )

  it("runs the processes the Node host runs, the same way: args, env, stdio and exit code; the memory cap; KILL; modules refused", async () => {
    const tab = await open("probe.html")
    try {
      await tab.waitForSelector("body[data-ready='1']", { state: "attached", timeout: 30_000 })
      const [output, small, large, spin, env, ownMemory, sandbox] = await Promise.all([
        run(tab, { name: "out", module: "output.wasm", args: ["a", "b c"], env: { GREETING: "hola" } }),
        run(tab, { name: "grow", module: "grow.wasm", memory: 4 * 1024 * 1024 }),
        run(tab, { name: "grow", module: "grow.wasm", memory: 64 * 1024 * 1024 }),
        run(tab, { name: "spin", module: "spin.wasm" }, 9),
        run(tab, { name: "env", module: "env.wasm", env: { GREETING: "hola" } }),
        run(tab, { name: "own", module: "own-memory.wasm" }),
        run(tab, { name: "out", module: "output.wasm", sandbox: "/tmp" })
      ])
      expect(output).toMatchObject({ code: 7, signal: undefined, reason: "exit 7" })
      expect((output as Ran).logs).toEqual([
        "stdout: hello from out with 2 args: a b c",
        "stdout: GREETING=hola",
        "stderr: to stderr",
        "stdout: no newline at the end"
      ])
      // The cap is the memory the host created for the module: malloc fails past it.
      const got = (ran: unknown) => Number((ran as Ran).logs[0]!.match(/allocated (\d+) MiB/)![1])
      expect(small).toMatchObject({ code: 12 })
      expect(got(small)).toBeLessThan(4)
      expect(got(large)).toBeGreaterThanOrEqual(60)
      expect(got(large)).toBeLessThan(64)
      // A module that never calls the host again: KILL terminates its Web Worker.
      expect(spin).toMatchObject({ code: 9, signal: 9, reason: "killed by KILL", logs: ["stdout: spinning"] })
      // Inside WOS: the environment carries the ABI marker, and core's detection names WOS from it.
      const environment = Object.fromEntries((env as Ran).logs.map((line) => line.slice("stdout: ".length).split(/=(.*)/s)))
      expect(environment).toEqual({ PWD: "/sandbox", GREETING: "hola", WOS_PID: String((env as Ran).pid), DUENDE_WOS_ABI: "1" })
      expect(Platform.detect({ ...Platform.processProbe(), env: environment })).toEqual({
        kind: "wos",
        markers: ["env WOS_PID", "env DUENDE_WOS_ABI=1"]
      })
      expect(ownMemory).toEqual({
        error: expect.stringContaining("own-memory.wasm refused: it defines and exports its own memory")
      })
      expect(sandbox).toEqual({ error: expect.stringContaining("the browser host has no directories") })
      expect(problems).toEqual([])
    } finally {
      await tab.close()
    }
  })
})
