/**
 * The WOS process model as an Effect service: PID 0 is the kernel, PID 1 init,
 * pids are monotonic; a process is Ready, Running, Blocked or Terminated(code);
 * priority 0 (highest) … 7, default 4. Each scheduling pass runs the processes
 * of the lowest non-empty level (round-robin inside it, as many as the kernel
 * has CPUs); every runnable process not chosen ages by 1 and at 5 is boosted
 * one level, back to its own priority once it runs. KILL terminates at once;
 * other signals are queued (a set, as in POSIX; a Blocked process is made
 * Ready to take them) and delivered lowest number
 * first; the default action terminates with the signal number, except CHLD,
 * which is ignored by default (as in POSIX: a parent without a handler must
 * not die because a child exited). An exit queues CHLD to the parent and
 * re-parents the children to init; init reaps its children at once. Limits:
 * 1000 processes, 100 zombies, 256 MiB of memory in all, 256 fds per process,
 * each a typed error.
 *
 * The kernel is the model and the bookkeeping; `NodeWosHost` (worker threads)
 * and `BrowserWosHost` (Web Workers) run real WebAssembly processes under it. Time slices come from `Clock` (`run`), so
 * `TestClock` drives scheduling deterministically.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as WosError from "./WosError.js"
import { numbers, type WosSignal } from "./WosSignal.js"
import * as Signal from "./WosSignal.js"

/**
 * A process id.
 *
 * @example
 * ```ts
 * import type { WosKernel } from "@duende/platform-wos"
 *
 * const init: WosKernel.Pid = 1
 * ```
 *
 * @since 0.1.0
 */
export type Pid = number

/**
 * The kernel's pid.
 *
 * @example
 * ```ts
 * import { WosKernel } from "@duende/platform-wos"
 *
 * WosKernel.KERNEL_PID // 0
 * ```
 *
 * @since 0.1.0
 */
export const KERNEL_PID: Pid = 0

/**
 * Init's pid: the parent of every process spawned without one, and of orphans.
 *
 * @example
 * ```ts
 * import { WosKernel } from "@duende/platform-wos"
 *
 * WosKernel.INIT_PID // 1
 * ```
 *
 * @since 0.1.0
 */
export const INIT_PID: Pid = 1

/**
 * The state of a process.
 *
 * @example
 * ```ts
 * import { WosKernel } from "@duende/platform-wos"
 *
 * const exited = (state: WosKernel.ProcessState) => state._tag === "Terminated" ? state.code : undefined
 * ```
 *
 * @since 0.1.0
 */
export type ProcessState = Data.TaggedEnum<{
  Ready: {}
  Running: {}
  Blocked: {}
  Terminated: { readonly code: number }
}>

/**
 * Constructors of `ProcessState`.
 *
 * @example
 * ```ts
 * import { WosKernel } from "@duende/platform-wos"
 *
 * WosKernel.ProcessState.Terminated({ code: 15 })
 * ```
 *
 * @since 0.1.0
 */
export const ProcessState = Data.taggedEnum<ProcessState>()

/**
 * A process as the kernel knows it.
 *
 * @example
 * ```ts
 * import { WosKernel } from "@duende/platform-wos"
 * import { Effect } from "effect"
 *
 * const ps = Effect.map(Effect.flatMap(WosKernel.WosKernel, (k) => k.ps), (all) => all.map((p) => `${p.pid} ${p.name} ${p.state._tag}`))
 * ```
 *
 * @since 0.1.0
 */
export interface ProcessInfo {
  readonly pid: Pid
  readonly ppid: Pid
  readonly name: string
  readonly state: ProcessState
  /** Its own priority (0 highest … 7 lowest). */
  readonly priority: number
  /** The level it is scheduled at now: its priority, less the boosts of aging. */
  readonly effectivePriority: number
  /** Passes it has waited since it last ran or was boosted. */
  readonly age: number
  /** Signals queued for it, lowest (delivered first) first. */
  readonly pending: ReadonlyArray<WosSignal>
  /** Signals it handles itself. */
  readonly handled: ReadonlyArray<WosSignal>
  /** Memory reserved for it, bytes. */
  readonly memory: number
  readonly fds: number
  /** Scheduling passes it was chosen in. */
  readonly slices: number
  /** When it was spawned (epoch ms, from `Clock`). */
  readonly startedAt: number
}

/**
 * The kernel's limits.
 *
 * @example
 * ```ts
 * import type { WosKernel } from "@duende/platform-wos"
 *
 * const small: WosKernel.Limits = { processes: 50, zombies: 10, memory: 64 * 1024 * 1024, fds: 64 }
 * ```
 *
 * @since 0.1.0
 */
export interface Limits {
  /** Entries in the process table, kernel, init and zombies included. */
  readonly processes: number
  /** Exited processes waiting to be reaped. */
  readonly zombies: number
  /** Memory reserved by all processes together, bytes. */
  readonly memory: number
  /** Open file descriptors per process. */
  readonly fds: number
}

/**
 * The limits of the WOS process model: 1000 processes, 100 zombies, 256 MiB, 256 fds.
 *
 * @example
 * ```ts
 * import { WosKernel } from "@duende/platform-wos"
 *
 * WosKernel.defaultLimits.memory // 268435456
 * ```
 *
 * @since 0.1.0
 */
export const defaultLimits: Limits = { processes: 1000, zombies: 100, memory: 256 * 1024 * 1024, fds: 256 }

/**
 * What `spawn` is given; decoded, so a bad request names its field.
 *
 * @example
 * ```ts
 * import { WosKernel } from "@duende/platform-wos"
 * import * as Schema from "effect/Schema"
 *
 * Schema.decodeUnknownSync(WosKernel.SpawnRequest)({ name: "api" }) // { name: "api", priority: 4, parent: 1, memory: 0, fds: 3 }
 * ```
 *
 * @since 0.1.0
 */
export const SpawnRequest = Schema.Struct({
  name: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255)),
  priority: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 7)), { default: () => 4 }),
  /** The parent; init when absent. */
  parent: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => INIT_PID }),
  /** Memory to reserve, bytes. */
  memory: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 0 }),
  /** Descriptors open from the start (stdin, stdout, stderr, preopens). */
  fds: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 3 })
})

/**
 * A spawn request as a caller writes it.
 *
 * @example
 * ```ts
 * import type { WosKernel } from "@duende/platform-wos"
 *
 * const request: WosKernel.SpawnRequest = { name: "worker", priority: 6, parent: 2 }
 * ```
 *
 * @since 0.1.0
 */
export type SpawnRequest = Schema.Schema.Encoded<typeof SpawnRequest>

/**
 * What delivering a process's next signal did.
 *
 * @example
 * ```ts
 * import type { WosKernel } from "@duende/platform-wos"
 *
 * const handled: WosKernel.Delivery = { signal: 15, action: "handler" }
 * ```
 *
 * @since 0.1.0
 */
export interface Delivery {
  readonly signal: WosSignal
  /** "handler": the process runs its handler; "terminate": the default action ended it; "ignore": CHLD without a handler. */
  readonly action: "handler" | "terminate" | "ignore"
}

/**
 * A reaped child: its pid and exit code.
 *
 * @example
 * ```ts
 * import type { WosKernel } from "@duende/platform-wos"
 *
 * const reaped: WosKernel.Reaped = { pid: 7, code: 0 }
 * ```
 *
 * @since 0.1.0
 */
export interface Reaped {
  readonly pid: Pid
  readonly code: number
}

/**
 * The kernel's options.
 *
 * @example
 * ```ts
 * import { WosKernel } from "@duende/platform-wos"
 *
 * const kernel = WosKernel.make({ cpus: 2, quantum: "5 millis", limits: { zombies: 10 } })
 * ```
 *
 * @since 0.1.0
 */
export interface Options {
  /** Processes that run at once (default 1, so priorities matter). */
  readonly cpus?: number
  /** A time slice (default 10 ms). */
  readonly quantum?: Duration.DurationInput
  readonly limits?: Partial<Limits>
}

/**
 * The kernel.
 *
 * @example
 * ```ts
 * import { WosKernel } from "@duende/platform-wos"
 * import { Effect } from "effect"
 *
 * const orphanTest = (kernel: WosKernel.WosKernel) =>
 *   Effect.gen(function*() {
 *     const parent = yield* kernel.spawn({ name: "parent" })
 *     const child = yield* kernel.spawn({ name: "child", parent })
 *     yield* kernel.exit(parent, 0)
 *     return (yield* kernel.get(child)).ppid // 1: re-parented to init
 *   })
 * ```
 *
 * @since 0.1.0
 */
export interface WosKernel {
  readonly cpus: number
  readonly quantum: Duration.Duration
  readonly limits: Limits
  /** A new process, Ready, under its parent (init by default). */
  readonly spawn: (request: SpawnRequest) => Effect.Effect<Pid, WosError.KernelError>
  /** Sends a signal: KILL terminates at once (code 9); others are queued. A terminated process ignores signals. */
  readonly signal: (pid: Pid, signal: number) => Effect.Effect<void, WosError.NoSuchProcess | WosError.InvalidRequest>
  /** Makes the process handle a signal itself (`handled`) or take the default action again. KILL cannot be handled. */
  readonly sigaction: (
    pid: Pid,
    signal: number,
    handled: boolean
  ) => Effect.Effect<void, WosError.NoSuchProcess | WosError.InvalidRequest>
  /** Takes the lowest queued signal and applies it (at the process's host call). */
  readonly deliver: (pid: Pid) => Effect.Effect<Option.Option<Delivery>, WosError.NoSuchProcess>
  /** The process ended with `code`. Exiting twice keeps the first code. */
  readonly exit: (pid: Pid, code: number) => Effect.Effect<void, WosError.NoSuchProcess | WosError.InvalidRequest>
  /** A parent reaps one exited child (`child`, or any); none when no child has exited. */
  readonly wait: (parent: Pid, child?: Pid) => Effect.Effect<Option.Option<Reaped>, WosError.NoSuchProcess>
  readonly renice: (pid: Pid, priority: number) => Effect.Effect<void, WosError.NoSuchProcess | WosError.InvalidRequest>
  /** Blocked processes are not scheduled until unblocked. */
  readonly block: (pid: Pid) => Effect.Effect<void, WosError.NoSuchProcess | WosError.InvalidRequest>
  readonly unblock: (pid: Pid) => Effect.Effect<void, WosError.NoSuchProcess | WosError.InvalidRequest>
  readonly openFd: (pid: Pid) => Effect.Effect<void, WosError.NoSuchProcess | WosError.FdLimitReached>
  readonly closeFd: (pid: Pid) => Effect.Effect<void, WosError.NoSuchProcess | WosError.InvalidRequest>
  /** One scheduling pass: the pids that run in the next slice. */
  readonly schedule: Effect.Effect<ReadonlyArray<Pid>>
  /**
   * Schedules once per quantum (from `Clock`) forever: `prepare` before each
   * pass (a host updates what blocked), then the pass, whose choice goes to `onPass`.
   */
  readonly run: <E, R>(
    onPass: (running: ReadonlyArray<Pid>) => Effect.Effect<void, E, R>,
    prepare?: Effect.Effect<void, E, R>
  ) => Effect.Effect<never, E, R>
  readonly get: (pid: Pid) => Effect.Effect<ProcessInfo, WosError.NoSuchProcess>
  /** Every process, by pid. */
  readonly ps: Effect.Effect<ReadonlyArray<ProcessInfo>>
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { WosKernel } from "@duende/platform-wos"
 * import { Effect } from "effect"
 *
 * const pid = Effect.flatMap(WosKernel.WosKernel, (kernel) => kernel.spawn({ name: "api", priority: 2 }))
 * ```
 *
 * @since 0.1.0
 */
export const WosKernel: Context.Tag<WosKernel, WosKernel> = Context.GenericTag<WosKernel>("@duende/platform-wos/WosKernel")

interface Entry {
  readonly pid: Pid
  ppid: Pid
  readonly name: string
  state: ProcessState
  priority: number
  effective: number
  age: number
  readonly pending: Set<WosSignal>
  readonly handled: Set<WosSignal>
  readonly memory: number
  fds: number
  slices: number
  /** The pass it last ran in (round-robin order inside a level). */
  lastRun: number
  readonly startedAt: number
}

/** Passes a waiting process ages before it is boosted one level. */
const BOOST_AGE = 5

const Priority = Schema.Int.pipe(Schema.between(0, 7))
const decodeSignal = Schema.decodeUnknownEither(Signal.WosSignal)
const decodePriority = Schema.decodeUnknownEither(Priority)
const decodeSpawn = Schema.decodeUnknownEither(SpawnRequest)

const invalid = (operation: string, error: ParseResult.ParseError) =>
  new WosError.InvalidRequest({ operation, reason: ParseResult.TreeFormatter.formatErrorSync(error) })

/**
 * A kernel with its kernel (PID 0) and init (PID 1) processes.
 *
 * @example
 * ```ts
 * import { WosKernel } from "@duende/platform-wos"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const kernel = yield* WosKernel.make({ cpus: 1 })
 *   const pid = yield* kernel.spawn({ name: "worker" })
 *   yield* kernel.schedule // [pid]
 * })
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<WosKernel> =>
  Effect.gen(function*() {
    const cpus = Math.max(1, Math.floor(options.cpus ?? 1))
    const quantum = Duration.decode(options.quantum ?? "10 millis")
    const limits: Limits = { ...defaultLimits, ...options.limits }
    const table = new Map<Pid, Entry>()
    let nextPid = 2
    let pass = 0
    const now = yield* Clock.currentTimeMillis
    const system = (pid: Pid, name: string, state: ProcessState): Entry => ({
      pid,
      ppid: KERNEL_PID,
      name,
      state,
      priority: 0,
      effective: 0,
      age: 0,
      pending: new Set(),
      handled: new Set(),
      memory: 0,
      fds: 0,
      slices: 0,
      lastRun: 0,
      startedAt: now
    })
    table.set(KERNEL_PID, system(KERNEL_PID, "kernel", ProcessState.Running()))
    // Init waits for its children: Blocked, never scheduled; the kernel reaps on its behalf.
    table.set(INIT_PID, system(INIT_PID, "init", ProcessState.Blocked()))

    const lookup = (pid: Pid): Effect.Effect<Entry, WosError.NoSuchProcess> => {
      const entry = table.get(pid)
      return entry === undefined ? Effect.fail(new WosError.NoSuchProcess({ pid })) : Effect.succeed(entry)
    }
    const isZombie = (entry: Entry) => entry.state._tag === "Terminated"
    const isSystem = (pid: Pid) => pid === KERNEL_PID || pid === INIT_PID
    const refuseSystem = (operation: string, pid: Pid) =>
      isSystem(pid)
        ? Effect.fail(new WosError.InvalidRequest({ operation, reason: `pid ${pid} is the ${pid === 0 ? "kernel" : "init"}` }))
        : Effect.void

    const info = (entry: Entry): ProcessInfo => ({
      pid: entry.pid,
      ppid: entry.ppid,
      name: entry.name,
      state: entry.state,
      priority: entry.priority,
      effectivePriority: entry.effective,
      age: entry.age,
      pending: [...entry.pending].sort((a, b) => a - b),
      handled: [...entry.handled].sort((a, b) => a - b),
      memory: entry.memory,
      fds: entry.fds,
      slices: entry.slices,
      startedAt: entry.startedAt
    })

    const reserved = () => {
      let total = 0
      for (const entry of table.values()) if (!isZombie(entry)) total += entry.memory
      return total
    }

    const spawn = (request: SpawnRequest) =>
      Effect.gen(function*() {
        const decoded = decodeSpawn(request)
        if (decoded._tag === "Left") return yield* invalid("spawn", decoded.left)
        const spec = decoded.right
        const parent = yield* lookup(spec.parent)
        if (parent.pid === KERNEL_PID || isZombie(parent)) {
          return yield* new WosError.InvalidRequest({
            operation: "spawn",
            reason: `pid ${parent.pid} cannot have children (${parent.pid === KERNEL_PID ? "the kernel" : "it exited"})`
          })
        }
        if (table.size >= limits.processes) return yield* new WosError.ProcessLimitReached({ limit: limits.processes })
        let zombies = 0
        for (const entry of table.values()) if (isZombie(entry)) zombies++
        if (zombies >= limits.zombies) return yield* new WosError.ZombieLimitReached({ limit: limits.zombies })
        const available = limits.memory - reserved()
        if (spec.memory > available) {
          return yield* new WosError.MemoryLimitReached({ requested: spec.memory, available, limit: limits.memory })
        }
        if (spec.fds > limits.fds) return yield* new WosError.FdLimitReached({ pid: nextPid, limit: limits.fds })
        const pid = nextPid++
        table.set(pid, {
          pid,
          ppid: parent.pid,
          name: spec.name,
          state: ProcessState.Ready(),
          priority: spec.priority,
          effective: spec.priority,
          age: 0,
          pending: new Set(),
          handled: new Set(),
          memory: spec.memory,
          fds: spec.fds,
          slices: 0,
          lastRun: pass,
          startedAt: yield* Clock.currentTimeMillis
        })
        return pid
      })

    /** Removes a zombie from the table. */
    const reap = (entry: Entry): Reaped => {
      table.delete(entry.pid)
      return { pid: entry.pid, code: entry.state._tag === "Terminated" ? entry.state.code : 0 }
    }

    const terminate = (entry: Entry, code: number) => {
      if (isZombie(entry)) return
      entry.state = ProcessState.Terminated({ code })
      entry.pending.clear()
      for (const child of table.values()) {
        if (child.ppid !== entry.pid) continue
        child.ppid = INIT_PID
        if (isZombie(child)) reap(child)
      }
      if (entry.ppid === INIT_PID) reap(entry)
      else table.get(entry.ppid)?.pending.add(numbers.CHLD)
    }

    const signal = (pid: Pid, value: number) =>
      Effect.gen(function*() {
        const decoded = decodeSignal(value)
        if (decoded._tag === "Left") return yield* invalid("signal", decoded.left)
        const entry = yield* lookup(pid)
        yield* refuseSystem("signal", pid)
        if (isZombie(entry)) return
        if (decoded.right === numbers.KILL) terminate(entry, numbers.KILL)
        else {
          entry.pending.add(decoded.right)
          // A signal ends a wait: the process runs again to take it.
          if (entry.state._tag === "Blocked") entry.state = ProcessState.Ready()
        }
      })

    const sigaction = (pid: Pid, value: number, handled: boolean) =>
      Effect.gen(function*() {
        const decoded = decodeSignal(value)
        if (decoded._tag === "Left") return yield* invalid("sigaction", decoded.left)
        if (decoded.right === numbers.KILL) {
          return yield* new WosError.InvalidRequest({ operation: "sigaction", reason: "KILL cannot be handled" })
        }
        const entry = yield* lookup(pid)
        if (handled) entry.handled.add(decoded.right)
        else entry.handled.delete(decoded.right)
      })

    const deliver = (pid: Pid) =>
      Effect.map(lookup(pid), (entry): Option.Option<Delivery> => {
        if (entry.pending.size === 0 || isZombie(entry)) return Option.none()
        const next = Math.min(...entry.pending) as WosSignal
        entry.pending.delete(next)
        if (entry.handled.has(next)) return Option.some({ signal: next, action: "handler" })
        if (next === numbers.CHLD) return Option.some({ signal: next, action: "ignore" })
        terminate(entry, next)
        return Option.some({ signal: next, action: "terminate" })
      })

    const exit = (pid: Pid, code: number) =>
      Effect.flatMap(lookup(pid), (entry) => Effect.andThen(refuseSystem("exit", pid), () => terminate(entry, code)))

    const wait = (parent: Pid, child?: Pid) =>
      Effect.map(lookup(parent), () => {
        for (const entry of table.values()) {
          if (entry.ppid === parent && isZombie(entry) && (child === undefined || entry.pid === child)) {
            return Option.some(reap(entry))
          }
        }
        return Option.none()
      })

    const renice = (pid: Pid, priority: number) =>
      Effect.gen(function*() {
        const decoded = decodePriority(priority)
        if (decoded._tag === "Left") return yield* invalid("renice", decoded.left)
        const entry = yield* lookup(pid)
        yield* refuseSystem("renice", pid)
        entry.priority = decoded.right
        entry.effective = decoded.right
        entry.age = 0
      })

    const setBlocked = (operation: string, blocked: boolean) => (pid: Pid) =>
      Effect.gen(function*() {
        const entry = yield* lookup(pid)
        yield* refuseSystem(operation, pid)
        if (isZombie(entry)) return yield* new WosError.InvalidRequest({ operation, reason: `process ${pid} exited` })
        entry.state = blocked ? ProcessState.Blocked() : ProcessState.Ready()
      })

    const openFd = (pid: Pid) =>
      Effect.flatMap(lookup(pid), (entry) => {
        if (entry.fds >= limits.fds) return Effect.fail(new WosError.FdLimitReached({ pid, limit: limits.fds }))
        entry.fds++
        return Effect.void
      })

    const closeFd = (pid: Pid) =>
      Effect.flatMap(lookup(pid), (entry) => {
        if (entry.fds === 0) {
          return Effect.fail(new WosError.InvalidRequest({ operation: "closeFd", reason: `process ${pid} has no open fd` }))
        }
        entry.fds--
        return Effect.void
      })

    const schedule = Effect.sync(() => {
      pass++
      const runnable = [...table.values()].filter((entry) =>
        !isSystem(entry.pid) && (entry.state._tag === "Ready" || entry.state._tag === "Running")
      )
      runnable.sort((a, b) => a.effective - b.effective || a.lastRun - b.lastRun || a.pid - b.pid)
      const chosen = runnable.slice(0, cpus)
      for (const entry of chosen) {
        entry.state = ProcessState.Running()
        entry.effective = entry.priority
        entry.age = 0
        entry.slices++
        entry.lastRun = pass
      }
      for (const entry of runnable.slice(cpus)) {
        entry.state = ProcessState.Ready()
        entry.age++
        if (entry.age >= BOOST_AGE) {
          entry.effective = Math.max(0, entry.effective - 1)
          entry.age = 0
        }
      }
      return chosen.map((entry) => entry.pid)
    })

    const run = <E, R>(
      onPass: (running: ReadonlyArray<Pid>) => Effect.Effect<void, E, R>,
      prepare: Effect.Effect<void, E, R> = Effect.void
    ) => Effect.forever(Effect.zipRight(Effect.flatMap(Effect.zipRight(prepare, schedule), onPass), Effect.sleep(quantum)))

    return WosKernel.of({
      cpus,
      quantum,
      limits,
      spawn,
      signal,
      sigaction,
      deliver,
      exit,
      wait,
      renice,
      block: setBlocked("block", true),
      unblock: setBlocked("unblock", false),
      openFd,
      closeFd,
      schedule,
      run,
      get: (pid) => Effect.map(lookup(pid), info),
      ps: Effect.sync(() => [...table.values()].sort((a, b) => a.pid - b.pid).map(info))
    })
  })

/**
 * The kernel as a layer.
 *
 * @example
 * ```ts
 * import { WosKernel } from "@duende/platform-wos"
 *
 * const kernel = WosKernel.layer({ cpus: 2, quantum: "5 millis" })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<WosKernel> => Layer.effect(WosKernel, make(options))
