// The FFI boundary of socket activation (src/internal/liblaunch.ts) against a STAND-IN of
// launch_activate_socket compiled here with clang (test/fixtures/liblaunch-stand-in.c): the
// real one exists only on macOS. A socket the test opens is handed over by fd through it and
// served by SocketActivation.listen, as a daemon would under launchd.
import { Integration } from "@duende/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { createConnection, createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { bind } from "../src/internal/liblaunch.js"
import * as SocketActivation from "../src/SocketActivation.js"

// The stand-in library is built for Linux (macOS has the real one: launchd-real.integration.test.ts).
const gate = process.platform === "linux"
  ? Integration.check(Integration.tool("clang", "apt-get install clang"))
  : { ok: false, label: ` [skipped: the stand-in library is for Linux; this is ${process.platform}]` }

describe.skipIf(!gate.ok)(`launch_activate_socket through koffi (stand-in library)${gate.label}`, () => {
  it.live("collects the fds of a name, frees launchd's array, and a daemon serves on them", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "duende-liblaunch-"))
      const library = join(dir, "liblaunch-stand-in.so")
      execFileSync("clang", ["-shared", "-fPIC", "-O1", "-o", library, join(__dirname, "fixtures", "liblaunch-stand-in.c")])
      const activate = bind(library)
      if (typeof activate === "string") throw new Error(activate)

      // A listening socket opened "by launchd" (here: by the test), known to the daemon only by fd.
      const owner: Server = createServer()
      yield* Effect.async<void>((resume) => void owner.listen(0, "127.0.0.1", () => resume(Effect.void)))
      const port = (owner.address() as { port: number }).port
      // Node will not listen on an fd one of its own servers holds: hand over a duplicate, as
      // launchd hands over a socket no one in the daemon has opened.
      const koffi = createRequire(__filename)("koffi") as { load: (l: string) => { func: (s: string) => (fd: number) => number } }
      const fd = koffi.load("libc.so.6").func("int dup(int fd)")((owner as unknown as { _handle: { fd: number } })._handle.fd)
      expect(fd).toBeGreaterThan(2)
      // The duplicate keeps the socket listening; the test's own server must not take the connection.
      yield* Effect.async<void>((resume) => void owner.close(() => resume(Effect.void)))
      process.env.LAUNCH_STAND_IN_http = `${fd}`
      process.env.LAUNCH_STAND_IN_pair = "41,42"
      try {
        expect(activate("pair")).toEqual({ fds: [41, 42] })
        expect(activate("nope")).toEqual({ errno: 2 })
        const sockets = Either.getOrThrow(SocketActivation.activate(["http"], activate))
        expect(sockets).toEqual([{ fd, name: "http" }])
        const daemon = createServer((socket) => socket.end("from the activated socket\n"))
        yield* SocketActivation.listen(daemon, sockets[0]!)
        const reply = yield* Effect.async<string>((resume) => {
          const client = createConnection(port, "127.0.0.1")
          let text = ""
          client.on("data", (chunk) => (text += chunk))
          client.on("end", () => resume(Effect.succeed(text)))
        })
        expect(reply).toBe("from the activated socket\n")
        daemon.close()
        const missing = SocketActivation.activate(["http", "nope"], activate)
        expect(Either.isLeft(missing) && missing.left.message).toBe(`launchd socket "nope": no such socket in the job's plist (ENOENT)`)
      } finally {
        delete process.env.LAUNCH_STAND_IN_http
        delete process.env.LAUNCH_STAND_IN_pair
        rmSync(dir, { recursive: true, force: true })
      }
    }))

  it("a library without the symbol says so", () => {
    const result = bind("/nonexistent/libSystem.B.dylib")
    expect(typeof result === "string" && result).toMatch(/launch_activate_socket could not be reached in \/nonexistent/)
  })
})
