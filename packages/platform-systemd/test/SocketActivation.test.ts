import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { createServer } from "node:net"
import * as SocketActivation from "../src/SocketActivation.js"

describe("SocketActivation", () => {
  it("reads LISTEN_* for this pid only", () => {
    expect(SocketActivation.fromEnvironment({ LISTEN_PID: "5", LISTEN_FDS: "3", LISTEN_FDNAMES: "a:b:c" }, 5)).toEqual([
      { fd: 3, name: "a" },
      { fd: 4, name: "b" },
      { fd: 5, name: "c" }
    ])
    expect(SocketActivation.fromEnvironment({ LISTEN_PID: "6", LISTEN_FDS: "1" }, 5)).toEqual([])
    expect(SocketActivation.fromEnvironment({ LISTEN_FDS: "1" }, 5)).toEqual([])
    expect(SocketActivation.fromEnvironment({ LISTEN_PID: "5", LISTEN_FDS: "-1" }, 5)).toEqual([])
  })

  it.live("listen fails cleanly on an fd that is not a listen socket", () =>
    Effect.gen(function*() {
      const server = createServer()
      const result = yield* Effect.either(SocketActivation.listen(server, { fd: 987, name: "missing" }))
      expect(result._tag).toBe("Left")
      server.close()
    }))
})
