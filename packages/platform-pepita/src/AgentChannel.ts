/**
 * The host's end of the guest agent's channel: the unix socket the VMM
 * exposes for the virtio-serial port, carrying pepita frames both ways.
 * Connecting is scoped (the socket is closed with the scope); every frame or
 * frame error the agent sends is published to subscribers, each of which sees
 * everything from the moment it subscribed.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as PubSub from "effect/PubSub"
import type * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { connect as netConnect, type Socket } from "node:net"
import * as Frame from "./Frame.js"

/**
 * The channel could not be opened, or broke.
 *
 * @since 0.1.0
 */
export class ChannelError extends Data.TaggedError("ChannelError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `agent channel ${this.path}: ${this.reason}`
  }
}

/**
 * An open channel.
 *
 * @since 0.1.0
 */
export interface AgentChannel {
  readonly send: (frame: Frame.Frame) => Effect.Effect<void, ChannelError>
  /** Raw bytes onto the channel (what `send` uses; also how a malformed frame is sent on purpose). */
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, ChannelError>
  /** Frames (and frame errors) from now on, for the life of the scope. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<Frame.Decoded>, never, Scope.Scope>
  /** Completes when the connection closes. */
  readonly closed: Effect.Effect<void>
}

/**
 * Connects to the socket (retrying while the VMM creates it, up to `timeout`).
 *
 * @example
 * ```ts
 * import { AgentChannel } from "@duende/platform-pepita/adapter"
 * import { Effect } from "effect"
 *
 * const registered = Effect.scoped(Effect.gen(function*() {
 *   const channel = yield* AgentChannel.connect(machine.agentSocket)
 *   const frames = yield* channel.subscribe
 *   return yield* AgentChannel.waitFor(frames, (frame) => frame._tag === "Register")
 * }))
 * ```
 *
 * @since 0.1.0
 */
export const connect = (
  path: string,
  options: { readonly timeout?: Duration.DurationInput } = {}
): Effect.Effect<AgentChannel, ChannelError, Scope.Scope> =>
  Effect.gen(function*() {
    const hub = yield* PubSub.unbounded<Frame.Decoded>()
    const closed = yield* Deferred.make<void>()
    const once = Effect.async<Socket, ChannelError>((resume) => {
      const socket = netConnect(path)
      socket.once("connect", () => {
        socket.removeAllListeners("error")
        resume(Effect.succeed(socket))
      })
      socket.once("error", (error) => {
        socket.destroy()
        resume(Effect.fail(new ChannelError({ path, reason: error.message })))
      })
    })
    const socket = yield* Effect.acquireRelease(
      once.pipe(
        Effect.retry(Schedule.spaced(Duration.millis(20))),
        Effect.timeoutFail({
          duration: options.timeout ?? Duration.seconds(10),
          onTimeout: () => new ChannelError({ path, reason: "the VMM did not open the socket" })
        })
      ),
      (socket) => Effect.sync(() => socket.destroy())
    )
    const decoder = Frame.decoder()
    socket.on("data", (chunk: Buffer) => {
      Effect.runSync(PubSub.publishAll(hub, decoder.push(chunk)))
    })
    socket.on("error", () => undefined)
    socket.once("close", () => Effect.runSync(Deferred.succeed(closed, undefined)))
    const write = (bytes: Uint8Array) =>
      Effect.async<void, ChannelError>((resume) => {
        if (socket.destroyed) return resume(Effect.fail(new ChannelError({ path, reason: "closed" })))
        socket.write(bytes, (error) =>
          resume(error ? Effect.fail(new ChannelError({ path, reason: error.message })) : Effect.void))
      })
    return {
      write,
      send: (frame) =>
        Either.match(Frame.encode(frame), {
          onLeft: (error) => Effect.fail(new ChannelError({ path, reason: error.message })),
          onRight: write
        }),
      subscribe: PubSub.subscribe(hub),
      closed: Deferred.await(closed)
    }
  })

/**
 * Takes from a subscription until a frame matches (frame errors are skipped).
 *
 * @example
 * ```ts
 * import { AgentChannel } from "@duende/platform-pepita/adapter"
 * import { Duration, Effect } from "effect"
 *
 * const result = AgentChannel.waitFor(frames, (frame) => frame._tag === "TaskResult").pipe(
 *   Effect.timeout(Duration.seconds(30))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const waitFor = <A extends Frame.Frame>(
  frames: Queue.Dequeue<Frame.Decoded>,
  match: (frame: Frame.Frame) => frame is A
): Effect.Effect<A> =>
  Effect.flatMap(frames.take, (item) =>
    Either.isRight(item) && match(item.right) ? Effect.succeed(item.right) : waitFor(frames, match))
