// A daemon whose run waits for nothing but a stop holds no handle of its own:
// runMain keeps the process alive until the lifecycle ends.
import { afterEach, describe, expect, it } from "@effect/vitest"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { killAll, spawnNode } from "./helpers/process.js"

afterEach(killAll)

const core = pathToFileURL(join(__dirname, "..", "dist", "index.js")).href

describe("Daemon.runMain keeps the process alive", () => {
  it("a Promise daemon that only awaits ctx.untilShutdown() runs until SIGTERM, then shuts down: exit 143", async () => {
    const dir = mkdtempSync(join(tmpdir(), "duende-keepalive-"))
    const main = join(dir, "worker.mjs")
    writeFileSync(main, `import { PromiseDaemon } from ${JSON.stringify(core)}
PromiseDaemon.runMain({
  name: "idle",
  async run(ctx) { await ctx.untilShutdown() },
  async shutdown(left) { console.log("shutdown " + (left > 0)) }
})
`)
    const daemon = spawnNode(main, { DUENDE_PLATFORM: "native" })
    await daemon.waitFor(/INFO +\[idle\] ready/)
    // Long after ready, with nothing pending in the event loop, it is still there.
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(daemon.child.exitCode).toBeNull()
    daemon.signal("SIGTERM")
    expect((await daemon.exit).code).toBe(143)
    expect(daemon.stdout()).toContain("shutdown true")
  })
})
