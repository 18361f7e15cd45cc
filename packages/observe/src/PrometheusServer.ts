/**
 * Serves a {@link MetricsRegistry} for Prometheus to scrape: `GET /metrics`
 * on loopback (127.0.0.1) by default. Scoped: closing the scope stops
 * listening and closes open connections.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import * as MetricsRegistry from "./MetricsRegistry.js"

/**
 * Where to listen.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Default "127.0.0.1": metrics stay on this machine unless you choose otherwise. */
  readonly host?: string
  /** Default 0: a free port picked by the system (read it back from the result). */
  readonly port?: number
  /** Default "/metrics". */
  readonly path?: string
}

/**
 * A running endpoint.
 *
 * @since 0.1.0
 */
export interface PrometheusServer {
  readonly host: string
  readonly port: number
  /** The scrape URL, e.g. `http://127.0.0.1:9464/metrics`. */
  readonly url: string
}

/**
 * The service tag (the address the endpoint listens on).
 *
 * @example
 * ```ts
 * import { PrometheusServer } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const announce = Effect.flatMap(PrometheusServer.PrometheusServer, (server) => Effect.log(`metrics at ${server.url}`))
 * ```
 *
 * @since 0.1.0
 */
export const PrometheusServer: Context.Tag<PrometheusServer, PrometheusServer> = Context.GenericTag<PrometheusServer>(
  "@duende/observe/PrometheusServer"
)

/**
 * The endpoint could not listen (address in use, no permission…).
 *
 * @example
 * ```ts
 * import { MetricsRegistry, PrometheusServer } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const serve = Effect.flatMap(MetricsRegistry.make(), (registry) => PrometheusServer.make(registry, { port: 9464 })).pipe(
 *   Effect.catchTag("ListenFailed", (error) => Effect.logError(error.message))
 * )
 * ```
 *
 * @since 0.1.0
 */
export class ListenFailed extends Data.TaggedError("ListenFailed")<{
  readonly host: string
  readonly port: number
  readonly reason: string
}> {
  override get message(): string {
    return `cannot serve metrics on ${this.host}:${this.port}: ${this.reason}`
  }
}

/**
 * Serves `registry` until the scope closes.
 *
 * @example
 * ```ts
 * import { MetricsRegistry, PrometheusServer } from "@duende/observe/manager"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function*() {
 *     const registry = yield* MetricsRegistry.make()
 *     const server = yield* PrometheusServer.make(registry, { port: 9464 })
 *     yield* Effect.log(`scrape ${server.url}`)
 *     yield* Effect.never
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
export const make = (
  registry: MetricsRegistry.MetricsRegistry,
  options: Options = {}
): Effect.Effect<PrometheusServer, ListenFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const path = options.path ?? "/metrics"
    const runtime = yield* Effect.runtime<never>()
    const runPromise = Runtime.runPromise(runtime)
    const server = createServer((request, response) => {
      if ((request.url ?? "/").split("?")[0] !== path) {
        response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end(`not found; metrics are at ${path}\n`)
        return
      }
      if (request.method !== "GET" && request.method !== "HEAD") {
        response.writeHead(405, { allow: "GET, HEAD" }).end()
        return
      }
      runPromise(registry.render).then(
        (text) => {
          response.writeHead(200, {
            "content-type": MetricsRegistry.contentType,
            "content-length": Buffer.byteLength(text)
          })
          response.end(request.method === "HEAD" ? undefined : text)
        },
        (error: unknown) => {
          response.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end(`${String(error)}\n`)
        }
      )
    })
    const address = yield* Effect.acquireRelease(
      listen(server, host, options.port ?? 0),
      () =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
    const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address
    return { host: address.address, port: address.port, url: `http://${shownHost}:${address.port}${path}` }
  })

const listen = (server: Server, host: string, port: number): Effect.Effect<AddressInfo, ListenFailed> =>
  Effect.async<AddressInfo, ListenFailed>((resume) => {
    const onError = (error: Error) => resume(Effect.fail(new ListenFailed({ host, port, reason: error.message })))
    server.once("error", onError)
    server.listen(port, host, () => {
      server.off("error", onError)
      resume(Effect.succeed(server.address() as AddressInfo))
    })
  })

/**
 * The endpoint as a layer over the {@link MetricsRegistry} in context.
 *
 * @example
 * ```ts
 * import { MetricsRegistry, PrometheusServer } from "@duende/observe/manager"
 * import { Layer } from "effect"
 *
 * const metrics = PrometheusServer.layer({ port: 9464 }).pipe(Layer.provideMerge(MetricsRegistry.layer()))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (
  options?: Options
): Layer.Layer<PrometheusServer, ListenFailed, MetricsRegistry.MetricsRegistry> =>
  Layer.scoped(PrometheusServer, Effect.flatMap(MetricsRegistry.MetricsRegistry, (registry) => make(registry, options)))
