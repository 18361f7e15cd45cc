/**
 * pepita's transport framing, spoken between the host and the guest agent over
 * the VM's virtio-serial port: `u32 big-endian length | 1 type byte | payload`,
 * where `length` counts the payload bytes only and the payload is JSON. The
 * ten frame types are pepita's: TaskSubmit 0, TaskResult 1, Heartbeat 2,
 * TaskCancel 3, Ack 4, Error 5, Shutdown 6, Register 7, Deregister 8, Status 9.
 *
 * Payloads are decoded with `effect/Schema`. The {@link Decoder} reads a byte
 * stream incrementally: a frame longer than {@link maxPayload}, of an unknown
 * type, with bad JSON or a payload its schema refuses becomes a
 * {@link FrameError} and the decoder goes on with the next frame (an oversized
 * payload is skipped without being buffered), so a bad frame never stops the
 * channel.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * The largest payload either side accepts: 1 MiB.
 *
 * @since 0.1.0
 */
export const maxPayload = 1024 * 1024

/**
 * The header: 4 length bytes and the type byte.
 *
 * @since 0.1.0
 */
export const headerBytes = 5

const Text = Schema.String.pipe(Schema.maxLength(64 * 1024))
const Count = Schema.Int.pipe(Schema.nonNegative())
/** Variables as execve takes them: names not empty, without "=" or NUL (a filter on the whole record: a key schema would drop such names silently). */
const Env = Schema.Record({ key: Text, value: Text }).pipe(
  Schema.filter((env) => {
    const bad = Object.keys(env).find((name) => name === "" || name.includes("=") || name.includes("\0"))
    return bad === undefined || `${JSON.stringify(bad)} is not an environment variable name`
  })
)
const SignalName = Schema.String.pipe(Schema.pattern(/^SIG[A-Z0-9]{1,12}$/))

/**
 * Host → guest: run the daemon's command (program, args, env, cwd) as its
 * manager; `shutdownTimeoutMs` bounds the graceful stop on `Shutdown`.
 *
 * @since 0.1.0
 */
export const TaskSubmit = Schema.TaggedStruct("TaskSubmit", {
  id: Text,
  program: Text,
  args: Schema.Array(Text).pipe(Schema.maxItems(4096)),
  env: Env,
  cwd: Schema.optional(Text),
  shutdownTimeoutMs: Count
})

/**
 * Guest → host: how the task ended (exit code, or the signal that ended it).
 *
 * @since 0.1.0
 */
export const TaskResult = Schema.TaggedStruct("TaskResult", {
  id: Text,
  code: Schema.NullOr(Schema.Int),
  signal: Schema.NullOr(SignalName)
})

/**
 * Guest → host, every few seconds: the agent is alive; the task's pid if one runs.
 *
 * @since 0.1.0
 */
export const Heartbeat = Schema.TaggedStruct("Heartbeat", {
  seq: Count,
  uptimeMs: Count,
  pid: Schema.NullOr(Count)
})

/**
 * Host → guest: send a signal to the task.
 *
 * @since 0.1.0
 */
export const TaskCancel = Schema.TaggedStruct("TaskCancel", {
  id: Text,
  signal: SignalName
})

/**
 * Either way: a request was carried out (`of` names its frame type; `pid` for a submitted task).
 *
 * @since 0.1.0
 */
export const Ack = Schema.TaggedStruct("Ack", {
  of: Schema.Literal("TaskSubmit", "TaskCancel", "Shutdown"),
  id: Schema.optional(Text),
  pid: Schema.optional(Count)
})

/**
 * Either way: a frame or a request was refused, and why.
 *
 * @since 0.1.0
 */
export const ErrorFrame = Schema.TaggedStruct("Error", {
  message: Text,
  id: Schema.optional(Text)
})

/**
 * Host → guest: stop the task (SIGTERM, `timeoutMs`, SIGKILL) and power off.
 *
 * @since 0.1.0
 */
export const Shutdown = Schema.TaggedStruct("Shutdown", {
  timeoutMs: Schema.optional(Count)
})

/**
 * Guest → host, once on boot: the agent is up (its version, the kernel, uptime at that moment).
 *
 * @since 0.1.0
 */
export const Register = Schema.TaggedStruct("Register", {
  agent: Text,
  kernel: Text,
  uptimeMs: Count
})

/**
 * Guest → host, last: the agent is going away (powering off), and why.
 *
 * @since 0.1.0
 */
export const Deregister = Schema.TaggedStruct("Deregister", {
  reason: Text
})

/**
 * What the task said on its notify pipe (`DUENDE=1`, `READY=1`, `STATUS=…`…), or a line of its output.
 *
 * @since 0.1.0
 */
export const StatusEvent = Schema.Union(
  Schema.TaggedStruct("Hello", {}),
  Schema.TaggedStruct("Ready", {}),
  Schema.TaggedStruct("Reloading", {}),
  Schema.TaggedStruct("Stopping", {}),
  Schema.TaggedStruct("Watchdog", {}),
  Schema.TaggedStruct("StatusText", { text: Text }),
  Schema.TaggedStruct("Health", {
    state: Schema.Literal("starting", "healthy", "unhealthy"),
    consecutiveFailures: Count,
    summary: Text
  }),
  Schema.TaggedStruct("Output", { stream: Schema.Literal("stdout", "stderr"), text: Text })
)

/**
 * @since 0.1.0
 */
export type StatusEvent = typeof StatusEvent.Type

/**
 * Guest → host: something the task did.
 *
 * @since 0.1.0
 */
export const Status = Schema.TaggedStruct("Status", {
  id: Text,
  event: StatusEvent
})

/**
 * Any frame: a union tagged by the frame type's name.
 *
 * @example
 * ```ts
 * import { Frame } from "@duende/platform-pepita/adapter"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(Frame.Frame)({ _tag: "TaskCancel", id: "t1", signal: "SIGTERM" })
 * ```
 *
 * @since 0.1.0
 */
export const Frame = Schema.Union(
  TaskSubmit,
  TaskResult,
  Heartbeat,
  TaskCancel,
  Ack,
  ErrorFrame,
  Shutdown,
  Register,
  Deregister,
  Status
)

/**
 * @since 0.1.0
 */
export type Frame = typeof Frame.Type

/**
 * A frame's type name.
 *
 * @since 0.1.0
 */
export type Type = Frame["_tag"]

/**
 * The type byte of each frame type (pepita's numbering).
 *
 * @example
 * ```ts
 * import { Frame } from "@duende/platform-pepita/adapter"
 *
 * Frame.typeByte.Status // 9
 * ```
 *
 * @since 0.1.0
 */
export const typeByte: Readonly<Record<Type, number>> = {
  TaskSubmit: 0,
  TaskResult: 1,
  Heartbeat: 2,
  TaskCancel: 3,
  Ack: 4,
  Error: 5,
  Shutdown: 6,
  Register: 7,
  Deregister: 8,
  Status: 9
}

const typeOfByte: ReadonlyArray<Type> = Object.entries(typeByte)
  .sort(([, a], [, b]) => a - b)
  .map(([name]) => name as Type)

const schemaOf: { readonly [T in Type]: Schema.Schema<Extract<Frame, { _tag: T }>, any> } = {
  TaskSubmit,
  TaskResult,
  Heartbeat,
  TaskCancel,
  Ack,
  Error: ErrorFrame,
  Shutdown,
  Register,
  Deregister,
  Status
}

/**
 * A frame that could not be read: too long, of an unknown type, not JSON, or
 * refused by its schema. The decoder skips it and goes on.
 *
 * @since 0.1.0
 */
export class FrameError extends Data.TaggedError("FrameError")<{
  /** The type byte, when the header was read. */
  readonly type: number
  readonly reason: string
}> {
  override get message(): string {
    return `bad frame (type ${this.type}): ${this.reason}`
  }
}

/**
 * A frame as bytes. Fails only for a payload over {@link maxPayload}.
 *
 * @example
 * ```ts
 * import { Frame } from "@duende/platform-pepita/adapter"
 *
 * const bytes = Frame.encode({ _tag: "Shutdown", timeoutMs: 5000 })
 * // Either.right(<Buffer 00 00 00 12 06 7b 22 74 69 ...>)
 * ```
 *
 * @since 0.1.0
 */
export const encode = (frame: Frame): Either.Either<Buffer, FrameError> => {
  const { _tag, ...fields } = frame
  const payload = Buffer.from(JSON.stringify(fields), "utf8")
  const type = typeByte[_tag]
  if (payload.length > maxPayload) {
    return Either.left(new FrameError({ type, reason: `payload of ${payload.length} bytes exceeds ${maxPayload}` }))
  }
  const header = Buffer.alloc(headerBytes)
  header.writeUInt32BE(payload.length, 0)
  header.writeUInt8(type, 4)
  return Either.right(Buffer.concat([header, payload]))
}

/**
 * A frame from its type byte and payload bytes.
 *
 * @example
 * ```ts
 * import { Frame } from "@duende/platform-pepita/adapter"
 *
 * Frame.decodePayload(6, Buffer.from("{}")) // Either.right({ _tag: "Shutdown" })
 * Frame.decodePayload(42, Buffer.from("{}")) // Either.left(FrameError: unknown frame type 42)
 * ```
 *
 * @since 0.1.0
 */
export const decodePayload = (type: number, payload: Uint8Array): Either.Either<Frame, FrameError> => {
  const name = typeOfByte[type]
  if (name === undefined) return Either.left(new FrameError({ type, reason: `unknown frame type ${type}` }))
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(payload).toString("utf8"), (key, value) => {
      // An object would lose it (or take it as its prototype): refused, never silently dropped.
      if (key === "__proto__") throw new SyntaxError("a __proto__ key")
      return value
    })
  } catch (error) {
    return Either.left(new FrameError({ type, reason: `payload is not JSON: ${(error as Error).message}` }))
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    return Either.left(new FrameError({ type, reason: "payload is not a JSON object" }))
  }
  return Schema.decodeUnknownEither(schemaOf[name] as Schema.Schema<Frame, any>, { onExcessProperty: "ignore" })({
    ...json,
    _tag: name
  }).pipe(
    Either.mapLeft((error) =>
      new FrameError({ type, reason: `${name}: ${ParseResult.TreeFormatter.formatErrorSync(error)}` })
    )
  )
}

/**
 * What the decoder read from a chunk: frames and errors, in stream order.
 *
 * @since 0.1.0
 */
export type Decoded = Either.Either<Frame, FrameError>

/**
 * An incremental decoder of a byte stream of frames. Keeps at most one
 * header or one bounded payload; an oversized payload is counted off, never
 * buffered.
 *
 * @example
 * ```ts
 * import { Frame } from "@duende/platform-pepita/adapter"
 *
 * const decoder = Frame.decoder()
 * socket.on("data", (chunk) => {
 *   for (const item of decoder.push(chunk)) {
 *     // Either.right(frame) or Either.left(FrameError)
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 */
export interface Decoder {
  readonly push: (chunk: Uint8Array) => ReadonlyArray<Decoded>
  /** Bytes held for an unfinished frame. */
  readonly pending: () => number
}

/**
 * A new {@link Decoder}.
 *
 * @example
 * ```ts
 * import { Frame } from "@duende/platform-pepita/adapter"
 * import { Either } from "effect"
 *
 * const bytes = Either.getOrThrow(Frame.encode({ _tag: "Deregister", reason: "shutdown" }))
 * const decoder = Frame.decoder()
 * decoder.push(bytes.subarray(0, 3)) // []: an unfinished header
 * decoder.push(bytes.subarray(3)) // [Either.right({ _tag: "Deregister", reason: "shutdown" })]
 * ```
 *
 * @since 0.1.0
 */
export const decoder = (): Decoder => {
  let buffer: Buffer = Buffer.alloc(0)
  // Bytes of an oversized payload still to skip, and its type.
  let skipping = 0
  let skippedType = 0
  return {
    pending: () => buffer.length,
    push: (chunk) => {
      const out: Array<Decoded> = []
      let input = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      if (skipping > 0) {
        const skip = Math.min(skipping, input.length)
        skipping -= skip
        input = input.subarray(skip)
        if (skipping > 0) return out
        out.push(Either.left(new FrameError({ type: skippedType, reason: `payload exceeds ${maxPayload} bytes` })))
      }
      buffer = buffer.length === 0 ? input : Buffer.concat([buffer, input])
      for (;;) {
        if (buffer.length < headerBytes) break
        const length = buffer.readUInt32BE(0)
        const type = buffer.readUInt8(4)
        if (length > maxPayload) {
          const available = buffer.length - headerBytes
          if (available >= length) {
            buffer = buffer.subarray(headerBytes + length)
            out.push(Either.left(new FrameError({ type, reason: `payload exceeds ${maxPayload} bytes` })))
            continue
          }
          skipping = length - available
          skippedType = type
          buffer = Buffer.alloc(0)
          break
        }
        if (buffer.length < headerBytes + length) break
        out.push(decodePayload(type, buffer.subarray(headerBytes, headerBytes + length)))
        buffer = buffer.subarray(headerBytes + length)
      }
      // Keep no view into a large chunk for a few bytes.
      if (buffer.length > 0 && buffer.buffer.byteLength > 4 * buffer.length + 4096) buffer = Buffer.from(buffer)
      return out
    }
  }
}
