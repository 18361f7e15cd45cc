// The supervisor's own log is rotated in place (copytruncate): the open append-only descriptor
// keeps writing, at the start of the cut file; older copies move up, three kept.
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, statSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import * as OwnLog from "../src/internal/ownLog.js"

describe("the supervisor's own log", () => {
  it("is copied to .1 and cut when past the limit; the descriptor writes on at the start; three copies kept", () => {
    const path = join(mkdtempSync(join(tmpdir(), "duende-ownlog-")), "supervisor.log")
    const fd = openSync(path, "a", 0o600)
    try {
      expect(OwnLog.rotate(path, 100, [fd])).toBe(false) // empty
      for (let round = 1; round <= 5; round++) {
        writeSync(fd, `round ${round} ${"x".repeat(120)}\n`)
        expect(OwnLog.rotate(path, 100, [fd])).toBe(true)
        expect(statSync(path).size).toBe(0)
        expect(readFileSync(`${path}.1`, "utf8")).toMatch(new RegExp(`^round ${round} `))
      }
      expect(readFileSync(`${path}.2`, "utf8")).toMatch(/^round 4 /)
      expect(readFileSync(`${path}.3`, "utf8")).toMatch(/^round 3 /)
      expect(existsSync(`${path}.4`)).toBe(false)
      writeSync(fd, "after\n")
      expect(readFileSync(path, "utf8")).toBe("after\n") // appended at the new end, no hole
      expect(OwnLog.rotate(path, 100, [fd])).toBe(false) // under the limit
    } finally {
      closeSync(fd)
    }
  })

  it("leaves a descriptor that is not the file alone (a supervisor run by hand, to a terminal or elsewhere)", () => {
    const dir = mkdtempSync(join(tmpdir(), "duende-ownlog-"))
    const other = openSync(join(dir, "other.log"), "a")
    writeSync(other, "y".repeat(500))
    const path = join(dir, "supervisor.log")
    closeSync(openSync(path, "a"))
    try {
      expect(OwnLog.rotate(path, 100, [other])).toBe(false)
      expect(statSync(join(dir, "other.log")).size).toBe(500)
    } finally {
      closeSync(other)
    }
  })
})
