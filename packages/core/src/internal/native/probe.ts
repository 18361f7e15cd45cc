/**
 * Readiness probes for commands that do not speak Duende's notify protocol:
 * a TCP port that accepts connections, an HTTP URL that answers 2xx/3xx.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"
import { connect } from "node:net"

/** One attempt: succeeds when the port accepts a connection. */
export const tcpOnce = (port: number, host: string): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = connect({ port, host })
    const done = (ok: boolean) => {
      socket.destroy()
      resume(Effect.succeed(ok))
    }
    socket.setTimeout(1_000, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
    return Effect.sync(() => socket.destroy())
  })

/** One attempt: succeeds when the URL answers 2xx or 3xx. */
export const httpOnce = (url: string): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const request = (url.startsWith("https:") ? httpsRequest : httpRequest)(url, { method: "GET", timeout: 2_000 })
    request.once("response", (response) => {
      response.resume()
      resume(Effect.succeed((response.statusCode ?? 500) < 400))
    })
    request.once("timeout", () => request.destroy())
    request.once("error", () => resume(Effect.succeed(false)))
    request.end()
    return Effect.sync(() => request.destroy())
  })
