import "./webassembly.js"

/** The layout of the shared control block between the host and one process's worker (Int32 slots). */
export const RUN = 0 // 1: scheduled for this slice; 0: hold at the next host call
export const PENDING = 1 // pending signals, bit n = signal n
export const SLEEPING = 2 // 1 while the process waits in a host call (poll_oneoff, spawn, wait): Blocked in the kernel
export const REPLY = 3 // 1 once the host answered the process's spawn or wait
export const VALUE = 4 // the answer: a pid, or -1
export const CODE = 5 // for wait: the reaped child's exit code
export const SLOTS = 6

/** The version of the `duende` import ABI (include/duende_wos.h), given to every process as `DUENDE_WOS_ABI`. */
export const ABI_VERSION = 1

/** What the host gives a process's worker. */
export interface WorkerData {
  readonly module: WebAssembly.Module
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly sandbox: string
  readonly initialPages: number
  readonly maximumPages: number
  readonly control: SharedArrayBuffer
  /** The signals a process may handle (all but KILL). */
  readonly catchable: ReadonlyArray<number>
  readonly CHLD: number
  /** Descriptors the process may open besides those it starts with (the kernel's limit less stdio and the sandbox). */
  readonly opens: number
  /** The slot indices above: the worker's code is sent as text and cannot import them. */
  readonly slots: {
    readonly RUN: number
    readonly PENDING: number
    readonly SLEEPING: number
    readonly REPLY: number
    readonly VALUE: number
    readonly CODE: number
  }
}

/** What a process's worker tells the host. */
export type WorkerMessage =
  | { readonly type: "log"; readonly stream: "stdout" | "stderr"; readonly text: string }
  | { readonly type: "ready" }
  | { readonly type: "health"; readonly healthy: boolean }
  | { readonly type: "sigaction"; readonly signal: number; readonly handled: boolean }
  | { readonly type: "delivered"; readonly signal: number }
  | { readonly type: "fd"; readonly opened: boolean }
  | {
    readonly type: "spawn"
    readonly path: string
    readonly args: ReadonlyArray<string>
    readonly priority: number
  }
  | { readonly type: "wait"; readonly pid: number }
  | {
    readonly type: "exit"
    readonly code: number
    readonly reason: string | undefined
    /** The signal whose default action ended it. */
    readonly signal: number | undefined
  }
