import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"

export interface Running {
  readonly child: ChildProcess
  readonly pid: number
  readonly stdout: () => ReadonlyArray<string>
  readonly stderr: () => string
  readonly waitFor: (pattern: RegExp | string, timeoutMs?: number) => Promise<string>
  readonly exit: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly ms: number }>
  readonly signal: (signal: NodeJS.Signals) => void
}

const children = new Set<ChildProcess>()

/** Kills whatever a test left running. */
export const killAll = () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL")
  children.clear()
}

/** Starts `node <script>` with extra env; stdout is split into lines. */
export const spawnNode = (script: string, env: Record<string, string> = {}): Running => {
  const started = Date.now()
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, DUENDE_LOG_LEVEL: "debug", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  children.add(child)
  const lines: Array<string> = []
  let err = ""
  let partial = ""
  const waiters = new Set<() => void>()
  child.stdout!.on("data", (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split("\n")
    partial = parts.pop()!
    lines.push(...parts)
    for (const wake of waiters) wake()
  })
  child.stderr!.on("data", (chunk: Buffer) => {
    err += chunk.toString()
    for (const wake of waiters) wake()
  })
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) =>
    child.on("exit", (code, signal) => {
      for (const wake of waiters) wake()
      resolve({ code, signal, ms: Date.now() - started })
    })
  )
  const waitFor = (pattern: RegExp | string, timeoutMs = 15_000) =>
    new Promise<string>((resolve, reject) => {
      const test = (line: string) => (typeof pattern === "string" ? line === pattern : pattern.test(line))
      const check = () => {
        const found = lines.find(test) ?? err.split("\n").find(test)
        if (found !== undefined) {
          done()
          resolve(found)
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done()
          reject(new Error(`process exited before ${pattern}; stdout:\n${lines.join("\n")}\nstderr:\n${err}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`no ${pattern} within ${timeoutMs}ms; stdout:\n${lines.join("\n")}\nstderr:\n${err}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        waiters.delete(check)
      }
      waiters.add(check)
      check()
    })
  return {
    child,
    pid: child.pid!,
    stdout: () => lines,
    stderr: () => err,
    waitFor,
    exit,
    signal: (signal) => void child.kill(signal)
  }
}

export const fixture = (name: string) => join(__dirname, "..", "fixtures", name)
