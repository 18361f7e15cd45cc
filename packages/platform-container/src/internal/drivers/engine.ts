/**
 * The Docker Engine API driver, over a unix socket: docker's daemon, or
 * podman's Docker-compatible service (`podman system service`). A start is
 * `POST /containers/create` with the body of `EngineSpec`, then `/start`;
 * status is `GET /containers/{name}/json`; stop is `/stop` followed by
 * `/wait`, whose StatusCode is the exit code (not the attach stream, which
 * podman's service reports as 0); starts and deaths come from `GET /events`.
 * The engine restarts containers itself (RestartPolicy).
 *
 * @internal
 */
import type { Signal } from "@duende/core"
import { PlatformCommandFailed } from "@duende/core/manager"
import type { AdapterError, PlatformAdapter } from "@duende/core/manager"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { labels, stopSeconds } from "../../ContainerSpec.js"
import type { ContainerSpec } from "../../ContainerSpec.js"
import * as EngineSpec from "../../EngineSpec.js"
import type { Driver, Inspection, Lifecycle } from "../driver.js"
import { type Client, demultiplexer } from "../engineClient.js"
import { recent } from "../recent.js"
import { followAcrossRuns, fromInspect, mergeLines, timestamped } from "./engineState.js"

export interface Options {
  readonly client: Client
  readonly poll: Duration.Duration
}

const q = encodeURIComponent

/** Epoch ms as the API's "seconds.nanoseconds". */
const unixNanos = (ms: number) => `${Math.floor(ms / 1000)}.${String(Math.round(ms % 1000) * 1_000_000).padStart(9, "0")}`

export const make = (options: Options): Effect.Effect<Driver, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { client } = options
    const events = yield* Effect.acquireRelease(PubSub.unbounded<Lifecycle>(), PubSub.shutdown)
    const exits = new Map<string, number>()

    // GET /events for the adapter's life; reconnects from the last event seen.
    let since = unixNanos(yield* Clock.currentTimeMillis)
    const seen = recent()
    let partial = ""
    const onData = (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split("\n")
      partial = parts.pop()!
      for (const line of parts) {
        let event: {
          Type?: string
          Action?: string
          status?: string
          time?: number
          timeNano?: number
          Actor?: { Attributes?: Record<string, string> }
        }
        try {
          event = JSON.parse(line)
        } catch {
          continue
        }
        // Reconnects begin at the last event's second; the events replayed from it are recognised and skipped.
        if (typeof event.time === "number") since = String(event.time)
        const attributes = event.Actor?.Attributes ?? {}
        const name = attributes.name
        if ((event.Type ?? "container") !== "container" || name === undefined || attributes[labels.id] === undefined) {
          continue
        }
        if (seen(`${event.timeNano ?? event.time} ${event.Action ?? event.status} ${name}`)) continue
        const at = typeof event.timeNano === "number" ? Math.floor(event.timeNano / 1e6) : (event.time ?? 0) * 1000
        const action = event.Action ?? event.status
        if (action === "start") void Effect.runFork(PubSub.publish(events, { _tag: "Started", name, at }))
        if (action === "die") {
          const code = Number(attributes.exitCode ?? attributes.containerExitCode ?? "0")
          void Effect.runFork(PubSub.publish(events, { _tag: "Died", name, code: Number.isInteger(code) ? code : 0, at }))
        }
      }
    }
    const filters = q(JSON.stringify({ type: ["container"] }))
    const watchEvents = Effect.scoped(
      Effect.flatMap(client.stream("GET", `/events?since=${since}&filters=${filters}`, onData), (ended) => ended)
    ).pipe(Effect.ignore)
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(watchEvents, Effect.sleep(Duration.seconds(1)))))

    const inspect = (name: string): Effect.Effect<Inspection | undefined, AdapterError> =>
      Effect.map(client.request("GET", `/containers/${q(name)}/json`, undefined, [404]), (response) => {
        if (response.status === 404) return undefined
        const found = fromInspect(JSON.parse(response.body))
        const code = exits.get(name)
        return found?.exit !== undefined && code !== undefined ? { ...found, exit: { ...found.exit, code } } : found
      })

    const remove = (name: string): Effect.Effect<void, AdapterError> =>
      Effect.asVoid(client.request("DELETE", `/containers/${q(name)}?force=1`, undefined, [404]))

    const start = (spec: ContainerSpec, existing: Inspection | undefined): Effect.Effect<void, AdapterError> =>
      Effect.gen(function*() {
        if (existing !== undefined) yield* remove(spec.name)
        const body = EngineSpec.render(spec)
        if (Either.isLeft(body)) {
          return yield* new PlatformCommandFailed({ command: ["POST", "/containers/create"], exitCode: null, stderr: body.left })
        }
        exits.delete(spec.name)
        yield* client.request("POST", `/containers/create?name=${q(spec.name)}`, body.right)
        yield* client.request("POST", `/containers/${q(spec.name)}/start`, undefined, [304])
      })

    const stop = (name: string, timeout: Duration.Duration): Effect.Effect<void, AdapterError> =>
      Effect.gen(function*() {
        const seconds = stopSeconds(Duration.toMillis(timeout))
        const stopped = yield* client.request("POST", `/containers/${q(name)}/stop?t=${seconds}`, undefined, [304, 404])
        if (stopped.status === 404) return
        const waited = yield* client.request("POST", `/containers/${q(name)}/wait?condition=not-running`, undefined, [404])
        if (waited.status === 404) return
        const code = (JSON.parse(waited.body) as { StatusCode?: unknown }).StatusCode
        if (typeof code === "number") exits.set(name, code)
      })

    const logs = (name: string, count: number) =>
      Effect.map(
        client.request(
          "GET",
          `/containers/${q(name)}/logs?stdout=1&stderr=1&timestamps=1&tail=${count}`,
          undefined,
          [404]
        ),
        (response) => {
          if (response.status === 404) return []
          const out: Array<PlatformAdapter.LogLine> = []
          demultiplexer((stream, payload) => {
            for (const line of payload.toString().split("\n")) if (line !== "") out.push(timestamped(stream, line))
          })(response.bytes)
          return mergeLines(out, count)
        }
      )

    const follow = (name: string): Effect.Effect<Stream.Stream<PlatformAdapter.LogLine>, never, Scope.Scope> =>
      Effect.gen(function*() {
        const queue = yield* Effect.acquireRelease(Queue.unbounded<PlatformAdapter.LogLine>(), Queue.shutdown)
        const starts = yield* PubSub.subscribe(events)
        // Where the next follow begins: now, then just after the newest line seen.
        let since = yield* Clock.currentTimeMillis
        const partials = { stdout: "", stderr: "" }
        const demux = demultiplexer((stream, payload) => {
          const parts = (partials[stream] + payload.toString()).split("\n")
          partials[stream] = parts.pop()!
          for (const text of parts) {
            const line = timestamped(stream, text)
            since = Math.max(since, line.at + 1)
            Queue.unsafeOffer(queue, line)
          }
        })
        const once = Effect.scoped(Effect.flatMap(
          client.stream(
            "GET",
            `/containers/${q(name)}/logs?follow=1&stdout=1&stderr=1&timestamps=1&since=${unixNanos(since)}`,
            demux
          ),
          (ended) => ended
        )).pipe(Effect.ignore)
        yield* followAcrossRuns({ name, once, inspect: inspect(name), starts, poll: options.poll })
        return Stream.fromQueue(queue)
      })

    const driver: Driver = {
      kind: "docker",
      restarts: "platform",
      render: (spec) =>
        Either.match(EngineSpec.render(spec), {
          onLeft: (reason) =>
            Effect.fail(new PlatformCommandFailed({ command: ["POST", "/containers/create"], exitCode: null, stderr: reason })),
          onRight: (body) =>
            Effect.succeed({
              name: `${spec.name}.create.json`,
              kind: `Docker Engine API create body (POST /containers/create?name=${spec.name})`,
              content: `${JSON.stringify(body, null, 2)}\n`
            })
        }),
      start: (spec, _, existing) => start(spec, existing),
      inspect,
      kill: (name, signal: Signal.Signal) =>
        Effect.asVoid(client.request("POST", `/containers/${q(name)}/kill?signal=${signal}`)),
      stop,
      remove,
      logs: (name, _, count) => logs(name, count),
      follow: (name) => follow(name),
      lifecycle: Effect.map(PubSub.subscribe(events), Stream.fromQueue)
    }
    return driver
  })
