/**
 * The supervisor's end of the control socket: a unix socket in a directory
 * only the user can enter (0700), itself mode 0600, created under a umask so
 * it is never briefly open to others. One JSON request per line; each is
 * handled in its own fiber; streams end when the client hangs up. A line is
 * bounded in size and nesting depth before it is parsed; what does not fit,
 * or does not decode, is answered with an error, and nothing a client sends
 * can throw out of this handler. Replies are under backpressure per
 * connection: at most {@link maxInFlight} requests run at once, reading stops
 * while replies wait to be written, a connection whose unsent replies pass
 * {@link maxUnsentBytes} or that does not drain within {@link drainTimeoutMs}
 * is dropped, and a log stream that cannot keep up skips lines and says how
 * many it skipped.
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

/** Requests of one connection handled at the same time; the rest wait, unread. */
export const maxInFlight = 16
/** Unsent reply bytes beyond which a connection is dropped. */
export const maxUnsentBytes = 8 * 1024 * 1024
/** How long a connection may leave replies unread before it is dropped. */
export const drainTimeoutMs = 10_000

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
      // Lines read but not handled yet, from `next` on (an index: shifting a long array costs its length).
      let pending: Array<string> = []
      let next = 0
      let buffered = ""
      let hungUp = false
      /** Replies are waiting in the socket's buffer: read nothing more until they drain. */
      let blocked = false
      let drainTimer: ReturnType<typeof setTimeout> | undefined
      /** Log lines skipped per stream while the client was not reading. */
      const skipped = new Map<number, number>()
      const drop = () => {
        hungUp = true
        pending = []
        next = 0
        socket.destroy()
      }
      const write = (response: Response) => {
        if (socket.destroyed || hungUp) return
        const flushed = socket.write(`${JSON.stringify(response)}\n`)
        if (socket.writableLength > maxUnsentBytes) return drop()
        if (!flushed && !blocked) {
          blocked = true
          drainTimer = setTimeout(drop, drainTimeoutMs)
        }
      }
      const pump = () => {
        while (next < pending.length && fibers.size < maxInFlight && !blocked && !hungUp) {
          const line = pending[next++]!
          try {
            handleLine(line)
          } catch (error) {
            // A bug here must cost this request, never the supervisor.
            refuse(-1, `request not handled: ${(error as Error).message}`)
          }
        }
        if (next === pending.length) {
          pending = []
          next = 0
        }
        if (hungUp) return
        if (pending.length > 0 || blocked) socket.pause()
        else socket.resume()
      }
      socket.on("drain", () => {
        blocked = false
        if (drainTimer !== undefined) clearTimeout(drainTimer)
        drainTimer = undefined
        pump()
      })
      const emitLine = (id: number, line: LogLineInfo) => {
        if (blocked) {
          skipped.set(id, (skipped.get(id) ?? 0) + 1)
          return
        }
        const gap = skipped.get(id)
        if (gap !== undefined) {
          skipped.delete(id)
          write({ id, line: { at: line.at, stream: "stderr", text: `[duende: ${gap} line(s) skipped here: the client did not keep up]` } })
        }
        write({ id, line })
      }
      const refuse = (id: number, message: string) => write({ id, error: { tag: "BadRequest", message } })
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
          handler(request, (logLine) => emitLine(id, logLine)).pipe(
            Effect.match({
              onFailure: (error) => write({ id, error }),
              onSuccess: (result) => write({ id, result: result ?? null })
            })
          )
        )
        fibers.add(fiber)
        fiber.addObserver(() => {
          fibers.delete(fiber)
          pump()
        })
      }
      socket.setEncoding("utf8") // a character split between two chunks stays whole
      socket.on("data", (chunk: string) => {
        if (hungUp) return
        const lines = (buffered + chunk).split("\n")
        buffered = lines.pop()!
        if (buffered.length > maxMessageBytes) {
          refuse(-1, `request larger than ${maxMessageBytes} bytes`)
          hungUp = true
          buffered = ""
          pending = []
          socket.end()
          return
        }
        for (const line of lines) pending.push(line)
        pump()
      })
      socket.on("error", () => undefined)
      // A client that hangs up ends its streams.
      socket.on("close", () => {
        hungUp = true
        if (drainTimer !== undefined) clearTimeout(drainTimer)
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
        // Room for a burst of clients (a thousand `duende` commands at once): the kernel caps it at somaxconn.
        server.listen({ path, backlog: 4096 }, () => {
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
