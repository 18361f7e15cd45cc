/**
 * The supervisor's end of the control socket: a unix socket in a directory
 * only the user can enter (0700), itself mode 0600, created under a umask so
 * it is never briefly open to others. One JSON request per line; each is
 * handled in its own fiber; streams end when the client hangs up. A line is
 * bounded in size and nesting depth before it is parsed; what does not fit,
 * or does not decode, is answered with an error, and nothing a client sends
 * can throw out of this handler.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberSet from "effect/FiberSet"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { chmodSync, existsSync, lstatSync, mkdirSync, statSync, unlinkSync } from "node:fs"
import { connect, createServer, type Socket } from "node:net"
import {
  depthOf,
  Envelope,
  type ErrorInfo,
  type LogLineInfo,
  maxDepth,
  maxMessageBytes,
  type Request,
  type Response
} from "../ControlProtocol.js"

export type Handler = (
  request: Request,
  emit: (line: LogLineInfo) => void
) => Effect.Effect<unknown, ErrorInfo>

const decodeEnvelope = Schema.decodeUnknownEither(Envelope)

/** Whether something answers on a socket path. */
const answering = (path: string): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(path)
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

const prepareDirectory = (directory: string) => {
  mkdirSync(directory, { recursive: true, mode: 0o700 })
  const stat = statSync(directory)
  if (process.getuid && stat.uid !== process.getuid()) {
    throw new Error(`${directory} belongs to uid ${stat.uid}, not to this user: refusing to put the control socket there`)
  }
  if ((stat.mode & 0o077) !== 0) chmodSync(directory, 0o700)
}

export const serve = (path: string, directory: string, handler: Handler): Effect.Effect<void, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const run = yield* FiberSet.makeRuntime<never>()
    yield* Effect.try({ try: () => prepareDirectory(directory), catch: (error) => error as Error })
    if (existsSync(path)) {
      if (yield* Effect.promise(() => answering(path))) {
        return yield* Effect.fail(new Error(`another supervisor answers on ${path}`))
      }
      if (lstatSync(path).isSocket()) unlinkSync(path) // left by a supervisor that died
    }
    const onConnection = (socket: Socket) => {
      const fibers = new Set<ReturnType<typeof run>>()
      let buffered = ""
      const send = (response: Response) => {
        if (!socket.destroyed) socket.write(`${JSON.stringify(response)}\n`)
      }
      const refuse = (id: number, message: string) => send({ id, error: { tag: "BadRequest", message } })
      const handleLine = (line: string) => {
        if (line.trim() === "") return
        if (line.length > maxMessageBytes) return refuse(-1, `request larger than ${maxMessageBytes} bytes`)
        if (depthOf(line, maxDepth) > maxDepth) return refuse(-1, `request nested deeper than ${maxDepth} levels`)
        let json: unknown
        try {
          json = JSON.parse(line)
        } catch {
          return refuse(-1, "not JSON")
        }
        const envelope = decodeEnvelope(json)
        if (Either.isLeft(envelope)) {
          const id = typeof (json as { id?: unknown })?.id === "number" ? (json as { id: number }).id : -1
          return refuse(id, envelope.left.message)
        }
        const { id, request } = envelope.right
        const fiber = run(
          handler(request, (logLine) => send({ id, line: logLine })).pipe(
            Effect.match({
              onFailure: (error) => send({ id, error }),
              onSuccess: (result) => send({ id, result: result ?? null })
            })
          )
        )
        fibers.add(fiber)
        fiber.addObserver(() => fibers.delete(fiber))
      }
      let hungUp = false
      socket.setEncoding("utf8") // a character split between two chunks stays whole
      socket.on("data", (chunk: string) => {
        if (hungUp) return
        const lines = (buffered + chunk).split("\n")
        buffered = lines.pop()!
        if (buffered.length > maxMessageBytes) {
          refuse(-1, `request larger than ${maxMessageBytes} bytes`)
          hungUp = true
          buffered = ""
          socket.end()
          return
        }
        for (const line of lines) {
          try {
            handleLine(line)
          } catch (error) {
            // A bug here must cost this request, never the supervisor.
            refuse(-1, `request not handled: ${(error as Error).message}`)
          }
        }
      })
      socket.on("error", () => undefined)
      // A client that hangs up ends its streams.
      socket.on("close", () => {
        for (const fiber of fibers) fiber.unsafeInterruptAsFork(fiber.id())
      })
    }
    const server = createServer(onConnection)
    yield* Effect.acquireRelease(
      Effect.async<void, Error>((resume) => {
        const previous = process.umask(0o177)
        server.once("error", (error) => {
          process.umask(previous)
          resume(Effect.fail(error))
        })
        server.listen(path, () => {
          process.umask(previous)
          chmodSync(path, 0o600)
          resume(Effect.void)
        })
      }),
      () =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          try {
            unlinkSync(path)
          } catch {
            // already gone
          }
        })
    )
  })
