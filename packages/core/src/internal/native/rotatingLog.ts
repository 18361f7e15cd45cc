/**
 * A daemon's log file: one line per line the daemon wrote,
 * `<ISO time> <out|err> <text>`, rotated by size (`name.log` → `name.log.1` …,
 * keeping `keep` old files).
 *
 * @internal
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs"
import type { LogLine } from "../../PlatformAdapter.js"

export class RotatingLog {
  private fd: number
  private size: number
  private readonly partial = { stdout: "", stderr: "" }

  constructor(
    readonly path: string,
    private readonly maxSize: number,
    private readonly keep: number,
    private readonly onLine: (line: LogLine) => void
  ) {
    this.fd = openSync(path, "a", 0o640)
    this.size = fstatSync(this.fd).size
  }

  write(stream: "stdout" | "stderr", chunk: string, now: number): void {
    const text = this.partial[stream] + chunk
    const lines = text.split("\n")
    this.partial[stream] = lines.pop()!
    if (this.partial[stream].length > 64 * 1024) {
      // A line with no end in sight: write what we have rather than grow without bound.
      lines.push(this.partial[stream])
      this.partial[stream] = ""
    }
    if (lines.length === 0) return
    const stamp = new Date(now).toISOString()
    const tag = stream === "stdout" ? "out" : "err"
    // Batch lines into one write, but never let a file grow past maxSize (unless one line alone does).
    let batch = ""
    let batchBytes = 0
    for (const line of lines) {
      const entry = `${stamp} ${tag} ${line}\n`
      const bytes = Buffer.byteLength(entry)
      if (this.size + batchBytes + bytes > this.maxSize && this.size + batchBytes > 0) {
        if (batch !== "") writeSync(this.fd, batch)
        this.rotate()
        batch = ""
        batchBytes = 0
      }
      batch += entry
      batchBytes += bytes
    }
    writeSync(this.fd, batch)
    this.size += batchBytes
    for (const line of lines) this.onLine({ at: now, stream, text: line })
  }

  /** Writes any unterminated last lines (when the process has exited). */
  flush(now: number): void {
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.partial[stream] !== "") this.write(stream, "\n", now)
    }
  }

  close(now: number): void {
    this.flush(now)
    closeSync(this.fd)
  }

  /** Closes the current file and shifts the rotated ones: name.log → name.log.1 → … → name.log.keep. */
  private rotate(): void {
    closeSync(this.fd)
    if (this.keep === 0) {
      rmSync(this.path, { force: true })
    } else {
      rmSync(`${this.path}.${this.keep}`, { force: true })
      for (let i = this.keep - 1; i >= 1; i--) {
        if (existsSync(`${this.path}.${i}`)) renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`)
      }
      renameSync(this.path, `${this.path}.1`)
    }
    this.fd = openSync(this.path, "a", 0o640)
    this.size = 0
  }
}

/** Parses one stored line back. */
export const parseLine = (line: string): LogLine => {
  const match = /^(\S+) (out|err) (.*)$/.exec(line)
  if (match === null) return { at: 0, stream: "stdout", text: line }
  const at = Date.parse(match[1]!)
  return { at: Number.isNaN(at) ? 0 : at, stream: match[2] === "out" ? "stdout" : "stderr", text: match[3]! }
}

/** The last `count` lines, across the current file and the rotated ones. */
export const tail = (path: string, keep: number, count: number): ReadonlyArray<LogLine> => {
  const out: Array<string> = []
  for (let i = 0; i <= keep && out.length < count; i++) {
    const file = i === 0 ? path : `${path}.${i}`
    if (!existsSync(file)) continue
    const lines = readFileSync(file, "utf8").split("\n")
    if (lines[lines.length - 1] === "") lines.pop()
    out.unshift(...lines.slice(Math.max(0, lines.length - (count - out.length))))
  }
  return out.map(parseLine)
}
