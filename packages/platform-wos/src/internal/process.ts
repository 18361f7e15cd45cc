/**
 * A WOS process inside its worker, the same for every host: its capped
 * memory, the `duende` imports (include/duende_wos.h), the scheduling and
 * signal checkpoints on the shared control block, stdout/stderr as log lines,
 * the descriptor limit, and how it ends (exit code, signal, trap).
 *
 * A host's worker gives it the WASI preview1 functions of its runtime
 * (`node:wasi` in a worker thread, `@bjorn3/browser_wasi_shim` in a Web
 * Worker). The Node worker runs as eval'd text, so `runProcess` must not use
 * anything from outside its own body: constants come from `WorkerData`.
 */
import type { WorkerData, WorkerMessage } from "./control.js"

/** A WASI preview1 function. */
export type Call = (...args: Array<number>) => number

/** What the host's worker provides. */
export interface Runtime {
  readonly post: (message: WorkerMessage) => void
  /** Its WASI preview1 functions, bound to the process's args, env, stdin and sandbox. */
  readonly preview1: Readonly<Record<string, Call>>
  /** Runs `_start` of the instance (whose exports include the memory); its exit code. */
  readonly start: (instance: { readonly exports: Record<string, unknown> }) => number
}

/** Runs the process to its end; the last message posted is its `exit`. */
export const runProcess = (data: WorkerData, runtime: Runtime): void => {
  const { CODE, PENDING, REPLY, RUN, SLEEPING, VALUE } = data.slots
  const control = new Int32Array(data.control)
  const post = runtime.post
  const base = runtime.preview1

  /** Thrown out of a host call to end the process (unwinds the WebAssembly stack). */
  class Exit {
    constructor(readonly signal: number) {}
  }

  const memory = new WebAssembly.Memory({ initial: data.initialPages, maximum: data.maximumPages })
  const handlers = new Map<number, number>()
  let table: WebAssembly.Table | undefined

  const hold = () => {
    while (Atomics.load(control, RUN) === 0) Atomics.wait(control, RUN, 0)
  }
  const lowestPending = () => {
    const mask = Atomics.load(control, PENDING)
    return mask === 0 ? 0 : 31 - Math.clz32(mask & -mask)
  }
  /** A scheduling point; at a safe point (a duende call) handlers run too. */
  const checkpoint = (safe: boolean) => {
    hold()
    for (;;) {
      const signal = lowestPending()
      if (signal === 0) return
      const handler = handlers.get(signal)
      if (handler !== undefined && !safe) return
      Atomics.and(control, PENDING, ~(1 << signal))
      post({ type: "delivered", signal })
      if (handler !== undefined) (table!.get(handler) as (signal: number) => void)(signal)
      else if (signal !== data.CHLD) throw new Exit(signal)
    }
  }

  const decoders = { 1: new TextDecoder(), 2: new TextDecoder() }
  const partial = { 1: "", 2: "" }
  const emit = (fd: 1 | 2, text: string) => {
    const lines = (partial[fd] + text).split("\n")
    partial[fd] = lines.pop()!
    for (const line of lines) post({ type: "log", stream: fd === 1 ? "stdout" : "stderr", text: line })
  }
  const flush = () => {
    for (const fd of [1, 2] as const) {
      emit(fd, decoders[fd].decode() + (partial[fd] === "" ? "" : "\n"))
    }
  }

  const preview1: Record<string, Call> = {}
  for (const [name, call] of Object.entries(base)) {
    preview1[name] = name === "proc_exit" ? call : (...args) => {
      checkpoint(false)
      return call(...args)
    }
  }
  // stdout and stderr become log lines for the host.
  preview1.fd_write = (fd, iovs, count, written) => {
    checkpoint(false)
    if (fd !== 1 && fd !== 2) return base.fd_write!(fd, iovs, count, written)
    const view = new DataView(memory.buffer)
    let total = 0
    for (let i = 0; i < count; i++) {
      const pointer = view.getUint32(iovs + i * 8, true)
      const length = view.getUint32(iovs + i * 8 + 4, true)
      emit(fd, decoders[fd].decode(new Uint8Array(memory.buffer, pointer, length), { stream: true }))
      total += length
    }
    view.setUint32(written, total, true)
    return 0
  }
  // A sleeping process is Blocked in the kernel (the host reads the flag each pass).
  preview1.poll_oneoff = (...args) => {
    checkpoint(false)
    Atomics.store(control, SLEEPING, 1)
    try {
      return base.poll_oneoff!(...args)
    } finally {
      Atomics.store(control, SLEEPING, 0)
    }
  }

  // Descriptors count against the process's limit: a path_open past it fails with EMFILE.
  const opened = new Set<number>()
  const EMFILE = 33
  preview1.path_open = (...args) => {
    checkpoint(false)
    if (opened.size >= data.opens) return EMFILE
    const result = base.path_open!(...args)
    if (result === 0) {
      opened.add(new DataView(memory.buffer).getUint32(args[8]!, true))
      post({ type: "fd", opened: true })
    }
    return result
  }
  preview1.fd_close = (fd) => {
    checkpoint(false)
    const result = base.fd_close!(fd)
    if (result === 0 && opened.delete(fd)) post({ type: "fd", opened: false })
    return result
  }

  /** Asks the host and waits for its answer (Blocked in the kernel meanwhile): [value, code]. */
  const request = (message: WorkerMessage): [number, number] => {
    Atomics.store(control, REPLY, 0)
    Atomics.store(control, SLEEPING, 1)
    post(message)
    while (Atomics.load(control, REPLY) === 0) Atomics.wait(control, REPLY, 0)
    Atomics.store(control, SLEEPING, 0)
    return [Atomics.load(control, VALUE), Atomics.load(control, CODE)]
  }
  const cString = (pointer: number) => {
    const bytes = new Uint8Array(memory.buffer)
    let end = pointer
    while (bytes[end] !== 0) end++
    return new TextDecoder().decode(bytes.subarray(pointer, end))
  }

  const duende = {
    yield: () => {
      checkpoint(true)
      return 0
    },
    signal_pending: () => {
      hold()
      return lowestPending()
    },
    sigaction: (signal: number, handler: number) => {
      if (!data.catchable.includes(signal) || (handler !== 0 && table === undefined)) return -1
      if (handler === 0) handlers.delete(signal)
      else handlers.set(signal, handler)
      post({ type: "sigaction", signal, handled: handler !== 0 })
      return 0
    },
    ready: () => {
      post({ type: "ready" })
      checkpoint(true)
    },
    health: (state: number) => {
      post({ type: "health", healthy: state === 0 })
      checkpoint(true)
    },
    spawn: (path: number, argv: number, argc: number, priority: number) => {
      const view = new DataView(memory.buffer)
      const args = Array.from({ length: argc }, (_, i) => cString(view.getUint32(argv + i * 4, true)))
      const [pid] = request({ type: "spawn", path: cString(path), args, priority })
      checkpoint(true)
      return pid
    },
    wait: (pid: number, code: number) => {
      const [child, status] = request({ type: "wait", pid })
      if (child > 0 && code !== 0) new DataView(memory.buffer).setInt32(code, status, true)
      checkpoint(true)
      return child
    }
  }

  let code: number
  let reason: string | undefined
  let signal: number | undefined
  try {
    const instance = new WebAssembly.Instance(data.module, { wasi_snapshot_preview1: preview1, env: { memory }, duende })
    const exported = instance.exports.__indirect_function_table
    table = exported instanceof WebAssembly.Table ? exported : undefined
    hold()
    code = runtime.start({ exports: { ...instance.exports, memory } })
  } catch (error) {
    if (error instanceof Exit) {
      code = signal = error.signal
      reason = `terminated by signal ${error.signal}`
    } else {
      // A trap (unreachable, out-of-bounds access…) is the WebAssembly SEGV.
      code = 11
      reason = `trap: ${error instanceof Error ? error.message : String(error)}`
    }
  }
  flush()
  post({ type: "exit", code, reason, signal })
}
