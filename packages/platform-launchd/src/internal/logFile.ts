/**
 * Reading the job's log files (StandardOutPath, StandardErrorPath): the last
 * lines, what was appended after an offset, and the current size. A file
 * that does not exist yet is empty.
 *
 * @internal
 */
import { closeSync, openSync, readSync, statSync } from "node:fs"

export const size = (path: string): number => {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

const readRange = (path: string, from: number, to: number): Buffer => {
  if (to <= from) return Buffer.alloc(0)
  let fd: number
  try {
    fd = openSync(path, "r")
  } catch {
    return Buffer.alloc(0)
  }
  try {
    const buffer = Buffer.alloc(to - from)
    let read = 0
    while (read < buffer.length) {
      const n = readSync(fd, buffer, read, buffer.length - read, from + read)
      if (n === 0) break
      read += n
    }
    return buffer.subarray(0, read)
  } finally {
    closeSync(fd)
  }
}

/** Complete lines appended after `offset` (at most `limit` bytes, the newest), and the offset after them. */
export const readFrom = (path: string, offset: number, limit = 4 * 1024 * 1024): { lines: Array<string>; next: number } => {
  const end = size(path)
  // A file shorter than the offset was truncated or replaced: read it from the start.
  const start = end < offset ? 0 : Math.max(offset, end - limit)
  const chunk = readRange(path, start, end)
  const lastNewline = chunk.lastIndexOf(0x0a)
  if (lastNewline < 0) return { lines: [], next: start }
  const text = chunk.subarray(0, lastNewline).toString("utf8")
  const lines = text.split("\n")
  // Reading from the middle of the file: the first piece is the tail of a line.
  if (start > offset) lines.shift()
  return { lines, next: start + lastNewline + 1 }
}

/** The last `count` lines (a last line without newline included). */
export const tail = (path: string, count: number): Array<string> => {
  if (count <= 0) return []
  const end = size(path)
  let start = end
  let chunk = Buffer.alloc(0)
  while (start > 0) {
    const from = Math.max(0, start - 65_536)
    chunk = Buffer.concat([readRange(path, from, start), chunk])
    start = from
    let newlines = 0
    for (const byte of chunk) if (byte === 0x0a) newlines++
    if (newlines > count) break
  }
  const lines = chunk.toString("utf8").split("\n")
  if (lines[lines.length - 1] === "") lines.pop()
  if (start > 0) lines.shift()
  return lines.slice(-count)
}
