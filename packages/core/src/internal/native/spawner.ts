/**
 * How the native adapter creates a daemon's process. Two ways, one interface
 * (`Spawned`: the pid, the stdout/stderr/notify streams, the exit):
 *
 * - node (the default): `child_process.spawn`, which forks on Linux, on the
 *   supervisor's own thread; a fork copies the page tables of the whole
 *   process, which under a crash storm was most of the supervisor's CPU.
 * - posix (`DUENDE_SPAWNER=posix`; Linux with glibc, pidfds and the optional
 *   koffi): a worker thread runs `posix_spawn` (no fork of the supervisor) and
 *   waits for the exits on pidfds (see `spawnWorker`). Measured against node
 *   by `bench/crash-storm.mjs`: far better at 200 crashing daemons, not yet at
 *   1,000, so it is not the default. A `user`/`group` to switch to always
 *   goes through node (posix_spawn cannot change the user).
 *
 * Both give the child its own session, stdin on /dev/null, stdout and stderr
 * on Unix socket pairs (as libuv makes its "pipes"), the inherited fds (held
 * listen sockets) at 3, 4, … and the notify channel after them, default
 * signal dispositions, and the environment and working directory asked for.
 *
 * @internal
 */
import { spawn as nodeSpawn } from "node:child_process"
import { writeSync } from "node:fs"
import { createRequire } from "node:module"
import { Socket } from "node:net"
import { constants } from "node:os"
import type { Readable } from "node:stream"
import { MessageChannel, type MessagePort, Worker } from "node:worker_threads"
import type * as Signal from "../../Signal.js"
import { findExecutable } from "../executable.js"
import { libc } from "./libc.js"
import { spawnWorkerSource } from "./spawnWorker.js"

export interface SpawnRequest {
  readonly program: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  /** Undefined: the supervisor's own. */
  readonly cwd: string | undefined
  readonly uid?: number
  readonly gid?: number
  /** fds the child gets at 3, 4, … (held listen sockets). */
  readonly fds: ReadonlyArray<number>
}

/** A started process. */
export interface Spawned {
  readonly pid: number
  readonly stdout: Readable
  readonly stderr: Readable
  /** The notify pipe: the child's fd 3 + fds.length. */
  readonly notify: Readable
  /** Calls `listener` once, when the process has ended (at once if it has). */
  readonly onExit: (listener: (code: number | null, signal: Signal.Signal | null) => void) => void
}

/** Why a process could not be started: an errno code (ENOENT, EACCES, …) and a message. */
export interface SpawnFailure {
  readonly code: string | undefined
  readonly message: string
}

export interface Spawner {
  readonly kind: "posix" | "node"
  readonly spawn: (request: SpawnRequest) => Promise<Spawned>
}

/** errno numbers by name, from Node's own table. */
const errnoNames = new Map(Object.entries(constants.errno).map(([name, number]) => [number, name]))

/** A value that would be cut short at a NUL byte by C: refused, as Node refuses it. */
const nulIn = (request: SpawnRequest): string | undefined => {
  if (request.program.includes("\0")) return "the program"
  if (request.args.some((arg) => arg.includes("\0"))) return "an argument"
  if (Object.entries(request.env).some(([key, value]) => key.includes("\0") || key.includes("=") || value.includes("\0"))) {
    return "an environment variable"
  }
  return request.cwd?.includes("\0") === true ? "the working directory" : undefined
}

const failure = (code: string | undefined, message: string): SpawnFailure => ({ code, message })

class Exit {
  private ended: { code: number | null; signal: Signal.Signal | null } | undefined
  private listeners: Array<(code: number | null, signal: Signal.Signal | null) => void> = []
  end(code: number | null, signal: Signal.Signal | null): void {
    if (this.ended !== undefined) return
    this.ended = { code, signal }
    for (const listener of this.listeners.splice(0)) listener(code, signal)
  }
  on(listener: (code: number | null, signal: Signal.Signal | null) => void): void {
    if (this.ended !== undefined) listener(this.ended.code, this.ended.signal)
    else this.listeners.push(listener)
  }
}

const viaNode = (request: SpawnRequest): Promise<Spawned> =>
  new Promise((resolve, reject) => {
    const nul = nulIn(request)
    if (nul !== undefined) return reject(failure("EINVAL", `${nul} contains a NUL byte`))
    const child = nodeSpawn(request.program, [...request.args], {
      cwd: request.cwd,
      env: request.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe", ...request.fds, "pipe"],
      ...(request.uid === undefined ? {} : { uid: request.uid }),
      ...(request.gid === undefined ? {} : { gid: request.gid })
    })
    const exit = new Exit()
    child.once("exit", (code, signal) => exit.end(code, signal as Signal.Signal | null))
    child.once("spawn", () =>
      resolve({
        pid: child.pid!,
        stdout: child.stdout!,
        stderr: child.stderr!,
        notify: child.stdio[3 + request.fds.length] as Readable,
        onExit: (listener) => exit.on(listener)
      }))
    child.once("error", (error: NodeJS.ErrnoException) => reject(failure(error.code, error.message)))
  })

type Reply =
  | { readonly type: "spawned"; readonly id: number; readonly pid: number; readonly reads: ReadonlyArray<number> }
  | { readonly type: "failed"; readonly id: number; readonly errno: number; readonly call: string }
  | { readonly type: "exit"; readonly pid: number; readonly code: number | null; readonly signal: Signal.Signal | null }

/** The supervisor's end of a socket pair, read only (the supervisor never writes to a daemon there). */
const readStream = (fd: number): Readable => new Socket({ fd, readable: true, writable: false })

class PosixSpawner implements Spawner {
  readonly kind = "posix" as const
  private worker: Worker | undefined
  private port: MessagePort | undefined
  private nextId = 0
  private readonly pending = new Map<number, { resolve: (s: Spawned) => void; reject: (f: SpawnFailure) => void }>()
  private readonly exits = new Map<number, Exit>()
  /** Set at exit: the worker's loop ends. */
  private readonly stop = new Int32Array(new SharedArrayBuffer(4))

  constructor(private readonly koffiPath: string, private readonly wake: readonly [number, number]) {}

  /** The worker starts with the first spawn, and does not keep the process alive. */
  private channel(): MessagePort {
    if (this.port !== undefined) return this.port
    const { port1, port2 } = new MessageChannel()
    this.worker = new Worker(spawnWorkerSource, {
      eval: true,
      workerData: { koffi: this.koffiPath, port: port2, wake: this.wake[0], stop: this.stop.buffer },
      transferList: [port2]
    })
    this.worker.unref()
    port1.on("message", (reply: Reply) => this.onReply(reply))
    port1.unref()
    // The worker sits in poll: told to stop and woken at exit, it ends (else the process would not).
    process.once("exit", () => {
      Atomics.store(this.stop, 0, 1)
      this.poke()
    })
    this.port = port1
    return port1
  }

  private poke(): void {
    try {
      writeSync(this.wake[1], Buffer.from([1]))
    } catch {
      // EAGAIN: the pipe is full, so the worker is woken already.
    }
  }

  private onReply(reply: Reply): void {
    if (reply.type === "exit") {
      const exit = this.exits.get(reply.pid)
      this.exits.delete(reply.pid)
      exit?.end(reply.code, reply.signal)
      return
    }
    const waiting = this.pending.get(reply.id)
    if (waiting === undefined) return
    this.pending.delete(reply.id)
    if (reply.type === "failed") {
      const code = errnoNames.get(reply.errno)
      waiting.reject(failure(code, `${reply.call} failed: ${code ?? `errno ${reply.errno}`}`))
      return
    }
    const exit = new Exit()
    this.exits.set(reply.pid, exit)
    const [stdout, stderr, notify] = reply.reads.map(readStream)
    waiting.resolve({ pid: reply.pid, stdout: stdout!, stderr: stderr!, notify: notify!, onExit: (listener) => exit.on(listener) })
  }

  spawn(request: SpawnRequest): Promise<Spawned> {
    if (request.uid !== undefined || request.gid !== undefined) return viaNode(request)
    const nul = nulIn(request)
    if (nul !== undefined) return Promise.reject(failure("EINVAL", `${nul} contains a NUL byte`))
    // The lookup Node makes: in the child's PATH, from its working directory.
    const path = findExecutable(request.program, request.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", request.cwd ?? process.cwd())
    if (path === undefined) return Promise.reject(failure("ENOENT", `spawn ${request.program} ENOENT`))
    return new Promise((resolve, reject) => {
      const id = ++this.nextId
      this.pending.set(id, { resolve, reject })
      this.channel().postMessage({
        type: "spawn",
        id,
        path,
        argv: [request.program, ...request.args],
        envp: Object.entries(request.env).map(([key, value]) => `${key}=${value}`),
        cwd: request.cwd,
        pipes: [1, 2, 3 + request.fds.length],
        fds: [...request.fds]
      })
      this.poke()
    })
  }
}

/** `child_process.spawn`: the default, and the fallback where posix cannot be had. */
export const nodeSpawner: Spawner = { kind: "node", spawn: viaNode }

let chosen: Spawner | undefined

/** The posix spawner, or why it cannot be had here. */
export const posixSpawner = (): Spawner | string => {
  const parts = posixParts()
  return typeof parts === "string" ? parts : new PosixSpawner(parts.koffiPath, parts.wake)
}

/** Why the posix spawner cannot be used here, or its parts. */
const posixParts = (): { readonly koffiPath: string; readonly wake: readonly [number, number] } | string => {
  const loaded = libc()
  if (typeof loaded === "string") return loaded
  try {
    const lib = loaded.libc
    // Present in glibc ≥ 2.29 only: checked here, not found missing in the worker.
    lib.func("int posix_spawn_file_actions_addchdir_np(void *actions, const char *path)")
    const syscall = lib.func("long syscall(long number, int pid, unsigned int flags)")
    const close = lib.func("int close(int fd)")
    const probe = Number(syscall(434, process.pid, 0))
    if (probe < 0) return "pidfd_open is not available (Linux ≥ 5.3)"
    close(probe)
    const pipe2 = lib.func("int pipe2(_Out_ int *fds, int flags)")
    const pair = new Int32Array(2)
    if (pipe2(pair, 0o2000000 | 0o4000) !== 0) return "pipe2 failed"
    return { koffiPath: createRequire(import.meta.url ?? __filename).resolve("koffi"), wake: [pair[0]!, pair[1]!] }
  } catch (error) {
    return (error as Error).message
  }
}

/** The spawner of this process: node, or posix with `DUENDE_SPAWNER=posix` where it works. */
export const spawner = (): Spawner => {
  if (chosen !== undefined) return chosen
  if (process.env.DUENDE_SPAWNER !== "posix") return (chosen = nodeSpawner)
  const parts = posixParts()
  chosen = typeof parts === "string" ? nodeSpawner : new PosixSpawner(parts.koffiPath, parts.wake)
  return chosen
}
