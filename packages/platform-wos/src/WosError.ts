/**
 * The ways the WOS kernel and its host fail, one tagged error per kind. A
 * limit reached is one of these, never a crash.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * No process has that pid (or it was reaped).
 *
 * @example
 * ```ts
 * import { WosError } from "@duende/platform-wos"
 *
 * new WosError.NoSuchProcess({ pid: 42 }).message // "no process 42"
 * ```
 *
 * @since 0.1.0
 */
export class NoSuchProcess extends Data.TaggedError("NoSuchProcess")<{ readonly pid: number }> {
  override get message(): string {
    return `no process ${this.pid}`
  }
}

/**
 * The process table is full (1000 entries by default, kernel, init and zombies included).
 *
 * @example
 * ```ts
 * import { WosError } from "@duende/platform-wos"
 *
 * new WosError.ProcessLimitReached({ limit: 1000 }).message
 * ```
 *
 * @since 0.1.0
 */
export class ProcessLimitReached extends Data.TaggedError("ProcessLimitReached")<{ readonly limit: number }> {
  override get message(): string {
    return `the process table is full (${this.limit} processes)`
  }
}

/**
 * Too many exited processes wait to be reaped (100 by default): no spawn until
 * their parents reap them.
 *
 * @example
 * ```ts
 * import { WosError } from "@duende/platform-wos"
 *
 * new WosError.ZombieLimitReached({ limit: 100 }).message
 * ```
 *
 * @since 0.1.0
 */
export class ZombieLimitReached extends Data.TaggedError("ZombieLimitReached")<{ readonly limit: number }> {
  override get message(): string {
    return `${this.limit} zombies wait to be reaped: reap some before spawning`
  }
}

/**
 * The memory a spawn asks for does not fit in what is left of the kernel's
 * total (256 MiB by default).
 *
 * @example
 * ```ts
 * import { WosError } from "@duende/platform-wos"
 *
 * new WosError.MemoryLimitReached({ requested: 1024, available: 0, limit: 268435456 }).message
 * ```
 *
 * @since 0.1.0
 */
export class MemoryLimitReached extends Data.TaggedError("MemoryLimitReached")<{
  readonly requested: number
  readonly available: number
  readonly limit: number
}> {
  override get message(): string {
    return `${this.requested} bytes of memory asked for, ${this.available} left of the kernel's ${this.limit}`
  }
}

/**
 * A process has as many open file descriptors as it may (256 by default).
 *
 * @example
 * ```ts
 * import { WosError } from "@duende/platform-wos"
 *
 * new WosError.FdLimitReached({ pid: 2, limit: 256 }).message
 * ```
 *
 * @since 0.1.0
 */
export class FdLimitReached extends Data.TaggedError("FdLimitReached")<{ readonly pid: number; readonly limit: number }> {
  override get message(): string {
    return `process ${this.pid} has ${this.limit} open file descriptors, the most it may`
  }
}

/**
 * An operation the kernel refuses: KILL to init, a handler for KILL, a
 * priority or signal out of range, a bad spawn request (the reason names the field).
 *
 * @example
 * ```ts
 * import { WosError } from "@duende/platform-wos"
 *
 * new WosError.InvalidRequest({ operation: "signal", reason: "init cannot be killed" }).message
 * ```
 *
 * @since 0.1.0
 */
export class InvalidRequest extends Data.TaggedError("InvalidRequest")<{
  readonly operation: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.operation}: ${this.reason}`
  }
}

/**
 * A WebAssembly module the host will not run, and why: not WebAssembly, no
 * `_start`, or it does not import its memory as `env.memory` (a module that
 * defines its own memory cannot have it capped without rewriting the module).
 *
 * @example
 * ```ts
 * import { WosError } from "@duende/platform-wos"
 *
 * new WosError.ModuleRefused({ module: "app.wasm", reason: "it exports its own memory" }).message
 * ```
 *
 * @since 0.1.0
 */
export class ModuleRefused extends Data.TaggedError("ModuleRefused")<{
  readonly module: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.module} refused: ${this.reason}`
  }
}

/**
 * The host could not do its part (a worker thread or a sandbox directory failed).
 *
 * @example
 * ```ts
 * import { WosError } from "@duende/platform-wos"
 *
 * new WosError.HostFailed({ reason: "mkdtemp: ENOSPC" }).message
 * ```
 *
 * @since 0.1.0
 */
export class HostFailed extends Data.TaggedError("HostFailed")<{ readonly reason: string }> {
  override get message(): string {
    return `WOS host: ${this.reason}`
  }
}

/**
 * What the kernel can fail with.
 *
 * @example
 * ```ts
 * import type { WosError } from "@duende/platform-wos"
 *
 * const explain = (error: WosError.KernelError) => `${error._tag}: ${error.message}`
 * ```
 *
 * @since 0.1.0
 */
export type KernelError =
  | NoSuchProcess
  | ProcessLimitReached
  | ZombieLimitReached
  | MemoryLimitReached
  | FdLimitReached
  | InvalidRequest
