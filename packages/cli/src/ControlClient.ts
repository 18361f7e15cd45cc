/**
 * The `duende` command's end of the control socket: requests to the
 * supervisor, streams from it, and starting it when it is not running.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import { closeSync, constants, mkdirSync, openSync, readFileSync } from "node:fs"
import { connect } from "node:net"
import type { ErrorInfo, LogLineInfo, Request, Response } from "./ControlProtocol.js"
import { type Paths, unsafe } from "./Paths.js"

/**
 * Nothing answers on the control socket.
 *
 * @since 0.1.0
 */
export class SupervisorNotRunning extends Data.TaggedError("SupervisorNotRunning")<{ readonly socket: string }> {
  override get message(): string {
    return `the duende supervisor is not running (no answer on ${this.socket}); \`duende start <config>\` starts it`
  }
}

/**
 * The supervisor answered with an error.
 *
 * @since 0.1.0
 */
export class SupervisorError extends Data.TaggedError("SupervisorError")<ErrorInfo> {}

/**
 * The supervisor could not be started.
 *
 * @since 0.1.0
 */
export class SupervisorStartFailed extends Data.TaggedError("SupervisorStartFailed")<{
  readonly reason: string
  readonly log: string
}> {
  override get message(): string {
    return `could not start the duende supervisor: ${this.reason}${this.log ? `\n${this.log}` : ""}`
  }
}

let nextId = 1

const exchange = (
  paths: Paths,
  request: Request,
  onLine?: (line: LogLineInfo) => void
): Effect.Effect<unknown, SupervisorNotRunning | SupervisorError> =>
  Effect.async<unknown, SupervisorNotRunning | SupervisorError>((resume) => {
    const id = nextId++
    const socket = connect(paths.socket)
    let buffered = ""
    let done = false
    const finish = (effect: Effect.Effect<unknown, SupervisorNotRunning | SupervisorError>) => {
      if (done) return
      done = true
      socket.destroy()
      resume(effect)
    }
    socket.once("connect", () => socket.write(`${JSON.stringify({ id, request })}\n`))
    socket.on("data", (chunk) => {
      const lines = (buffered + chunk.toString()).split("\n")
      buffered = lines.pop()!
      for (const line of lines) {
        const response = JSON.parse(line) as Response
        if (response.id !== id) continue
        if ("line" in response) onLine?.(response.line)
        else if ("error" in response) finish(Effect.fail(new SupervisorError(response.error)))
        else finish(Effect.succeed(response.result))
      }
    })
    socket.once("error", (error: NodeJS.ErrnoException) =>
      finish(
        ["ENOENT", "ECONNREFUSED", "ENOTSOCK"].includes(error.code ?? "")
          ? Effect.fail(new SupervisorNotRunning({ socket: paths.socket }))
          : Effect.fail(new SupervisorError({ tag: "TransportError", message: error.message }))
      ))
    socket.once("close", () =>
      finish(Effect.fail(new SupervisorError({ tag: "TransportError", message: "the supervisor closed the connection" }))))
    return Effect.sync(() => {
      done = true
      socket.destroy()
    })
  })

/**
 * Sends one request and waits for its answer.
 *
 * @example
 * ```ts
 * import { ControlClient, Paths } from "@duende/cli"
 * import { Effect } from "effect"
 *
 * const daemons = ControlClient.request(Paths.resolve(), { method: "list" })
 * ```
 *
 * @since 0.1.0
 */
export const request = (paths: Paths, request: Request): Effect.Effect<unknown, SupervisorNotRunning | SupervisorError> =>
  exchange(paths, request)

/**
 * Sends a streaming request (`logs` with `follow`) and calls `onLine` for each
 * line until interrupted.
 *
 * @example
 * ```ts
 * import { ControlClient, Paths } from "@duende/cli"
 *
 * const follow = ControlClient.stream(Paths.resolve(), { method: "logs", name: "api", lines: 10, follow: true }, (line) =>
 *   console.log(line.text))
 * ```
 *
 * @since 0.1.0
 */
export const stream = (
  paths: Paths,
  request: Request,
  onLine: (line: LogLineInfo) => void
): Effect.Effect<unknown, SupervisorNotRunning | SupervisorError> => exchange(paths, request, onLine)

const tail = (path: string): string => {
  try {
    return readFileSync(path, "utf8").trim().split("\n").slice(-10).join("\n")
  } catch {
    return ""
  }
}

/**
 * Makes sure a supervisor answers: starts `node <entry> supervisor` in the
 * background (its own session, output to the supervisor log) when none does,
 * and waits for it (bounded).
 *
 * @example
 * ```ts
 * import { ControlClient, Paths } from "@duende/cli"
 *
 * const ready = ControlClient.ensureSupervisor(Paths.resolve(), process.argv[1]!)
 * ```
 *
 * @since 0.1.0
 */
export const ensureSupervisor = (
  paths: Paths,
  entry: string,
  timeout: Duration.Duration = Duration.seconds(20)
): Effect.Effect<void, SupervisorStartFailed> =>
  Effect.gen(function*() {
    const up = yield* Effect.either(exchange(paths, { method: "ping" }))
    if (up._tag === "Right") return
    const problem = unsafe(paths)
    if (problem !== undefined) return yield* new SupervisorStartFailed({ reason: problem, log: "" })
    yield* Effect.try({
      try: () => {
        mkdirSync(paths.home, { recursive: true, mode: 0o700 })
        const log = openSync(paths.supervisorLog, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600)
        const child = spawn(process.execPath, [entry, "supervisor"], {
          detached: true,
          stdio: ["ignore", log, log],
          env: process.env
        })
        closeSync(log)
        child.unref()
      },
      catch: (error) => new SupervisorStartFailed({ reason: (error as Error).message, log: "" })
    })
    const deadline = Date.now() + Duration.toMillis(timeout)
    while (Date.now() < deadline) {
      yield* Effect.sleep(Duration.millis(50))
      const ping = yield* Effect.either(exchange(paths, { method: "ping" }))
      if (ping._tag === "Right") return
    }
    return yield* new SupervisorStartFailed({
      reason: `no answer on ${paths.socket} within ${Duration.format(timeout)}`,
      log: tail(paths.supervisorLog)
    })
  })
