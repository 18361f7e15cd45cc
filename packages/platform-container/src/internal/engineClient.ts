/**
 * A Docker Engine API client over a unix socket with node:http: JSON requests
 * whose failures carry the API's message, and streaming responses (events,
 * followed logs) for the life of a scope. Logs of containers without a TTY
 * come multiplexed: frames of `[stream, 0, 0, 0, size (u32 BE)]` + payload.
 *
 * @internal
 */
import { PlatformCommandFailed } from "@duende/core/manager"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type ClientRequest, request as httpRequest } from "node:http"

export const apiVersion = "v1.41"

export interface Response {
  readonly status: number
  readonly body: string
  /** The body as bytes (multiplexed logs are binary). */
  readonly bytes: Buffer
}

export interface Client {
  readonly socket: string
  /** Sends a request; statuses in `accept` (besides 2xx) are returned, others fail with the API's message. */
  readonly request: (
    method: string,
    path: string,
    body?: unknown,
    accept?: ReadonlyArray<number>
  ) => Effect.Effect<Response, PlatformCommandFailed>
  /** A streaming GET/POST: chunks go to `onData` until the scope closes; the effect returned waits for the end. */
  readonly stream: (
    method: string,
    path: string,
    onData: (chunk: Buffer) => void
  ) => Effect.Effect<Effect.Effect<void>, PlatformCommandFailed, Scope.Scope>
}

const messageOf = (body: string): string => {
  try {
    const parsed = JSON.parse(body) as { message?: unknown; cause?: unknown }
    if (typeof parsed.message === "string") return parsed.message
  } catch {
    // not JSON
  }
  return body.trim()
}

export const make = (socket: string): Client => {
  const failure = (method: string, path: string, status: number | null, message: string) =>
    new PlatformCommandFailed({ command: [method, `unix://${socket}:/${apiVersion}${path}`], exitCode: status, stderr: message })

  const open = (method: string, path: string, body: unknown): ClientRequest => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = httpRequest({
      socketPath: socket,
      method,
      path: `/${apiVersion}${path}`,
      headers: payload === undefined
        ? { host: "docker" }
        : { host: "docker", "content-type": "application/json", "content-length": Buffer.byteLength(payload) }
    })
    if (payload !== undefined) req.write(payload)
    req.end()
    return req
  }

  const request: Client["request"] = (method, path, body, accept = []) =>
    Effect.async<Response, PlatformCommandFailed>((resume) => {
      const req = open(method, path, body)
      req.on("response", (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () => {
          const status = res.statusCode ?? 0
          const bytes = Buffer.concat(chunks)
          const text = bytes.toString()
          if ((status >= 200 && status < 300) || accept.includes(status)) resume(Effect.succeed({ status, body: text, bytes }))
          else resume(Effect.fail(failure(method, path, status, messageOf(text) || `HTTP ${status}`)))
        })
        res.on("error", (error) => resume(Effect.fail(failure(method, path, null, error.message))))
      })
      req.on("error", (error) =>
        resume(Effect.fail(failure(method, path, null, `cannot reach the Docker Engine API at ${socket}: ${error.message}`))))
      return Effect.sync(() => req.destroy())
    })

  const stream: Client["stream"] = (method, path, onData) =>
    Effect.gen(function*() {
      let finish: () => void = () => undefined
      const ended = new Promise<void>((resolve) => (finish = resolve))
      yield* Effect.acquireRelease(
        Effect.async<ClientRequest, PlatformCommandFailed>((resume) => {
          const req = open(method, path, undefined)
          req.on("response", (res) => {
            const status = res.statusCode ?? 0
            if (status < 200 || status >= 300) {
              let text = ""
              res.on("data", (chunk: Buffer) => (text += chunk.toString()))
              res.on("end", () => resume(Effect.fail(failure(method, path, status, messageOf(text) || `HTTP ${status}`))))
              return
            }
            res.on("data", onData)
            res.on("end", finish)
            res.on("error", finish)
            res.on("close", finish)
            resume(Effect.succeed(req))
          })
          req.on("error", (error) => {
            finish()
            resume(Effect.fail(failure(method, path, null, `cannot reach the Docker Engine API at ${socket}: ${error.message}`)))
          })
        }),
        (req) => Effect.sync(() => req.destroy())
      )
      return Effect.promise(() => ended)
    })

  return { socket, request, stream }
}

/** Splits a multiplexed log stream into frames; keeps partial frames between chunks. */
export const demultiplexer = (onFrame: (stream: "stdout" | "stderr", payload: Buffer) => void) => {
  let pending: Buffer = Buffer.alloc(0)
  return (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4)
      if (pending.length < 8 + size) break
      const kind = pending[0]
      const payload = pending.subarray(8, 8 + size)
      pending = pending.subarray(8 + size)
      if (kind === 1 || kind === 2) onFrame(kind === 1 ? "stdout" : "stderr", payload)
    }
  }
}
