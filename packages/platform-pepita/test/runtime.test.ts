// The runtime half in a real child process: given the notify pipe the guest
// agent gives a daemon (fd 3, DUENDE_NOTIFY_FD=3, PEPITA_VM), core detects
// pepita and the package's runtime writes the native protocol's lines on it.
import { spawn } from "node:child_process"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

const dist = join(__dirname, "..", "dist", "index.js")

// Runs the built entry (the repo's test command builds first), as a daemon would load it.
describe("the runtime half", () => {
  it("is detected from PEPITA_VM and speaks the notify pipe: hello, READY, STATUS, STOPPING", async () => {
    const script = `
      import { Platform, PlatformRuntime } from "@duende/core"
      import { platformRuntime } from ${JSON.stringify(dist)}
      import * as Effect from "effect/Effect"
      const detected = Platform.detect()
      console.log(JSON.stringify(detected))
      await Effect.runPromise(Effect.gen(function*() {
        const runtime = yield* PlatformRuntime.PlatformRuntime
        console.log("platform " + runtime.platform)
        yield* runtime.status("warming up")
        yield* runtime.ready
        yield* runtime.stopping
      }).pipe(Effect.provide(platformRuntime)))
    `
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      cwd: join(__dirname, ".."),
      env: { PATH: process.env.PATH, PEPITA_VM: "web", DUENDE_NOTIFY_FD: "3" },
      stdio: ["ignore", "pipe", "inherit", "pipe"]
    })
    let out = ""
    let notify = ""
    child.stdout!.on("data", (chunk) => (out += chunk))
    ;(child.stdio[3] as NodeJS.ReadableStream).on("data", (chunk) => (notify += chunk))
    const code = await new Promise((resolve) => child.on("close", resolve))
    expect(code).toBe(0)
    expect(JSON.parse(out.split("\n")[0]!)).toEqual({ kind: "pepita", markers: ["env PEPITA_VM"] })
    expect(out).toContain("platform pepita")
    expect(notify.split("\n")).toEqual(expect.arrayContaining(["STATUS=warming up", "READY=1", "STOPPING=1"]))
  })
})
