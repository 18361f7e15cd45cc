// HttpDrain with real sockets: busy keep-alive clients do not hold a draining server open —
// their next response says Connection: close — and the drain ends long before its deadline.
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { Agent, createServer, request } from "node:http"
import type { AddressInfo } from "node:net"
import * as HttpDrain from "../src/HttpDrain.js"

const get = (port: number, agent: Agent) =>
  new Promise<{ readonly status: number; readonly connection: string | undefined } | { readonly error: string }>((resolve) => {
    const req = request({ host: "127.0.0.1", port, agent, path: "/" }, (res) => {
      res.resume()
      res.on("end", () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }))
    })
    req.on("error", (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }))
    req.end()
  })

describe("HttpDrain", () => {
  it.live("a draining server tells busy keep-alive clients to go, and closes well before its deadline", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = createServer((_, res) => setTimeout(() => res.end("ok"), 5))
      const { address } = yield* Scope.extend(HttpDrain.serve(server, { listenSockets: [] }, { port: 0, drainTimeout: "20 seconds" }), scope)
      expect(address).toBe("127.0.0.1:0")
      const port = (server.address() as AddressInfo).port
      const agent = new Agent({ keepAlive: true, maxSockets: 10 })
      let stop = false
      const answers: Array<Awaited<ReturnType<typeof get>>> = []
      const clients = Promise.all(Array.from({ length: 10 }, async () => {
        while (!stop) answers.push(await get(port, agent))
      }))
      // Under load first (a busy machine serves slowly: wait for the answers, not a fixed time).
      for (let i = 0; i < 200 && answers.length <= 20; i++) yield* Effect.sleep("50 millis")
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      const drainMs = Date.now() - started
      stop = true
      yield* Effect.promise(() => clients)
      agent.destroy()
      // The bug this fixes: busy keep-alive connections held the server until the deadline.
      expect(drainMs).toBeLessThan(10_000)
      expect(server.listening).toBe(false)
      const served = answers.filter((answer): answer is { status: number; connection: string | undefined } => "status" in answer)
      expect(served.length).toBeGreaterThan(20)
      expect(served.every((answer) => answer.status === 200)).toBe(true)
      expect(served.some((answer) => answer.connection === "close")).toBe(true) // the answers written while draining
      const failed = answers.filter((answer) => "error" in answer).map((answer) => (answer as { error: string }).error)
      expect(failed.every((code) => code === "ECONNREFUSED" || code === "ECONNRESET")).toBe(true) // new connections after it closed
    }))

  it.live("fails to listen with the error (EADDRINUSE), leaving nothing open", () =>
    Effect.gen(function*() {
      const taken = createServer()
      yield* Effect.async<void>((resume) => {
        taken.listen(0, "127.0.0.1", () => resume(Effect.void))
      })
      const port = (taken.address() as AddressInfo).port
      const error = yield* Effect.flip(Effect.scoped(HttpDrain.serve(createServer(), { listenSockets: [] }, { port })))
      expect((error as NodeJS.ErrnoException).code).toBe("EADDRINUSE")
      yield* Effect.async<void>((resume) => {
        taken.close(() => resume(Effect.void))
      })
    }))
})
