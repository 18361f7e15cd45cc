/**
 * The guest agent: runs inside the VM (started by busybox init, see
 * `Image.ts`), bundled into one file, `dist/agent.mjs`. It speaks pepita's
 * framing on the virtio-serial port given as its argument and is the manager
 * of the one daemon the host submits:
 *
 * - Register on boot; Heartbeat every `duende.heartbeat` ms (kernel command line);
 * - TaskSubmit → the real command with its env and cwd, given the native notify
 *   pipe (fd 3, `DUENDE_NOTIFY_FD=3`, as Duende's own supervisor does), so a
 *   Duende daemon's READY/STATUS/WATCHDOG/STOPPING/HEALTH lines become Status
 *   frames; its stdout and stderr lines become Status Output frames; its exit a
 *   TaskResult;
 * - TaskCancel → the signal, to the daemon;
 * - Shutdown → SIGTERM, up to the shutdown timeout, SIGKILL to its process
 *   group, Deregister, power off;
 * - a frame it cannot read → an Error reply; the agent goes on.
 *
 * @internal
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { openSync, read, readFileSync, write } from "node:fs"
import { release } from "node:os"
import { StringDecoder } from "node:string_decoder"
import * as Either from "effect/Either"
import * as Frame from "../Frame.js"
import { lineSplitter, parse } from "../internal/notifyLine.js"

const version = "0.1.0"

const cmdline = (() => {
  try {
    return readFileSync("/proc/cmdline", "utf8")
  } catch {
    return ""
  }
})()
const param = (name: string): string | undefined => new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(cmdline)?.[1]
const heartbeatMs = Math.max(100, Number(param("duende.heartbeat") ?? 2000) || 2000)
const vmName = param("duende.vm") ?? "pepita"

const uptimeMs = (): number => {
  try {
    return Math.round(Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 1000)
  } catch {
    return Math.round(process.uptime() * 1000)
  }
}

const portPath = process.argv[2]
if (portPath === undefined) {
  process.stderr.write("usage: agent.mjs <virtio-serial port>\n")
  process.exit(2)
}
const port = openSync(portPath, "r+")

// --- writing: one write at a time, in order, off the event loop ------------------
const outbox: Array<Buffer> = []
let writing = false
let drained: Array<() => void> = []
const pump = () => {
  if (writing) return
  const next = outbox.shift()
  if (next === undefined) {
    const waiting = drained
    drained = []
    for (const resolve of waiting) resolve()
    return
  }
  writing = true
  const writeAll = (buffer: Buffer) =>
    write(port, buffer, 0, buffer.length, null, (error, written) => {
      if (error !== null) {
        // The host end is not connected (EPIPE, EAGAIN): the frame is dropped, not the agent.
        process.stderr.write(`agent: write failed: ${error.message}\n`)
        writing = false
        return pump()
      }
      if (written < buffer.length) return writeAll(buffer.subarray(written))
      writing = false
      pump()
    })
  writeAll(next)
}
const send = (frame: Frame.Frame) => {
  const bytes = Frame.encode(frame)
  if (Either.isLeft(bytes)) {
    process.stderr.write(`agent: ${bytes.left.message}\n`)
    return
  }
  outbox.push(bytes.right)
  pump()
}
const flushed = () => new Promise<void>((resolve) => {
  drained.push(resolve)
  pump()
})

// --- the task -----------------------------------------------------------------
interface Task {
  readonly id: string
  readonly child: ChildProcess
  readonly shutdownTimeoutMs: number
  readonly exited: Promise<void>
}
let task: Task | undefined

const submit = (frame: typeof Frame.TaskSubmit.Type) => {
  if (task !== undefined) {
    return send({ _tag: "Error", id: frame.id, message: `task ${task.id} is running (pid ${task.child.pid})` })
  }
  let child: ChildProcess
  try {
    child = spawn(frame.program, [...frame.args], {
      cwd: frame.cwd ?? "/",
      env: {
        PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        HOME: "/root",
        ...frame.env,
        PEPITA_VM: vmName,
        DUENDE_DAEMON_ID: frame.id,
        DUENDE_NOTIFY_FD: "3"
      },
      stdio: ["ignore", "pipe", "pipe", "pipe"],
      detached: true
    })
  } catch (error) {
    return send({ _tag: "Error", id: frame.id, message: `cannot run ${frame.program}: ${(error as Error).message}` })
  }
  let resolveExited!: () => void
  const current: Task = {
    id: frame.id,
    child,
    shutdownTimeoutMs: frame.shutdownTimeoutMs,
    exited: new Promise((resolve) => (resolveExited = resolve))
  }
  task = current
  const lines = (stream: "stdout" | "stderr") => {
    const decoder = new StringDecoder("utf8")
    const splitter = lineSplitter((text) => send({ _tag: "Status", id: frame.id, event: { _tag: "Output", stream, text } }))
    const source = child[stream]!
    source.on("data", (chunk: Buffer) => splitter.push(decoder.write(chunk)))
    source.on("end", () => splitter.push(decoder.end()))
    return splitter
  }
  const out = lines("stdout")
  const err = lines("stderr")
  const notify = child.stdio[3] as NodeJS.ReadableStream
  const notifyDecoder = new StringDecoder("utf8")
  const notifyLines = lineSplitter((line) => {
    const event = parse(line)
    if (event !== undefined) send({ _tag: "Status", id: frame.id, event })
  })
  notify.on("data", (chunk: Buffer) => notifyLines.push(notifyDecoder.write(chunk)))
  notify.on("error", () => undefined)
  child.once("spawn", () => send({ _tag: "Ack", of: "TaskSubmit", id: frame.id, pid: child.pid! }))
  let reported = false
  const report = (code: number | null, signal: NodeJS.Signals | null) => {
    if (reported) return
    reported = true
    out.flush()
    err.flush()
    notifyLines.flush()
    if (task === current) task = undefined
    send({ _tag: "TaskResult", id: frame.id, code, signal })
    resolveExited()
  }
  child.once("error", (error) => {
    send({ _tag: "Error", id: frame.id, message: `cannot run ${frame.program}: ${error.message}` })
    report(127, null)
  })
  // "close" waits for the output pipes; a grandchild holding them open must not hold back the result.
  child.once("close", (code, signal) => report(code, signal))
  child.once("exit", (code, signal) => setTimeout(() => report(code, signal), 500).unref())
}

const signalTask = (id: string, signal: string) => {
  if (task === undefined || task.id !== id) return send({ _tag: "Error", id, message: `no task ${id} is running` })
  try {
    process.kill(task.child.pid!, signal as NodeJS.Signals)
    send({ _tag: "Ack", of: "TaskCancel", id })
  } catch (error) {
    send({ _tag: "Error", id, message: `kill ${signal}: ${(error as Error).message}` })
  }
}

let shuttingDown = false
const shutdown = async (timeoutMs: number | undefined) => {
  if (shuttingDown) return
  shuttingDown = true
  send({ _tag: "Ack", of: "Shutdown" })
  const running = task
  if (running !== undefined) {
    const pid = running.child.pid!
    try {
      process.kill(pid, "SIGTERM")
    } catch {
      // already gone
    }
    const deadline = timeoutMs ?? running.shutdownTimeoutMs
    const timer = new Promise<"deadline">((resolve) => setTimeout(() => resolve("deadline"), deadline))
    if ((await Promise.race([running.exited.then(() => "exited" as const), timer])) === "deadline") {
      try {
        process.kill(-pid, "SIGKILL")
      } catch {
        running.child.kill("SIGKILL")
      }
      await running.exited
    }
  }
  send({ _tag: "Deregister", reason: "shutdown" })
  await flushed()
  spawnSync("/bin/sync")
  spawnSync("/bin/poweroff", ["-f"])
}

const handle = (frame: Frame.Frame) => {
  switch (frame._tag) {
    case "TaskSubmit":
      return shuttingDown ? send({ _tag: "Error", id: frame.id, message: "shutting down" }) : submit(frame)
    case "TaskCancel":
      return signalTask(frame.id, frame.signal)
    case "Shutdown":
      return void shutdown(frame.timeoutMs)
    default:
      return send({ _tag: "Error", message: `the agent does not take ${frame._tag} frames` })
  }
}

// --- reading: the port reads 0 bytes while the host end is not connected -------
const decoder = Frame.decoder()
const chunk = Buffer.alloc(64 * 1024)
const readLoop = () =>
  read(port, chunk, 0, chunk.length, null, (error, bytes) => {
    if (error !== null || bytes === 0) {
      setTimeout(readLoop, 50)
      return
    }
    for (const item of decoder.push(Buffer.from(chunk.subarray(0, bytes)))) {
      if (Either.isLeft(item)) send({ _tag: "Error", message: item.left.message })
      else handle(item.right)
    }
    readLoop()
  })

send({ _tag: "Register", agent: version, kernel: release(), uptimeMs: uptimeMs() })
readLoop()
let seq = 0
setInterval(() => {
  seq += 1
  send({ _tag: "Heartbeat", seq, uptimeMs: uptimeMs(), pid: task?.child.pid ?? null })
}, heartbeatMs)
process.on("uncaughtException", (error) => {
  process.stderr.write(`agent: ${error.stack ?? error.message}\n`)
})
