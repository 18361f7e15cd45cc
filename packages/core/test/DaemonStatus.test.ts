import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as DaemonStatus from "../src/DaemonStatus.js"

const all: ReadonlyArray<DaemonStatus.DaemonStatus> = [
  DaemonStatus.Created(),
  DaemonStatus.Starting(),
  DaemonStatus.Running(),
  DaemonStatus.Paused(),
  DaemonStatus.Stopping(),
  DaemonStatus.Stopped(),
  DaemonStatus.Failed({ reason: "exit 1" })
]

/** The whole transition table, written out: anything not here must be refused. */
const legal = new Set([
  "Created→Starting",
  "Created→Stopped",
  "Starting→Running",
  "Starting→Stopping",
  "Starting→Stopped",
  "Starting→Failed",
  "Running→Paused",
  "Running→Stopping",
  "Running→Stopped",
  "Running→Failed",
  "Paused→Running",
  "Paused→Stopping",
  "Paused→Stopped",
  "Paused→Failed",
  "Stopping→Stopped",
  "Stopping→Failed",
  "Stopped→Starting",
  "Failed→Starting"
])

describe("DaemonStatus", () => {
  it("allows exactly the legal transitions and names the allowed ones when refusing", () => {
    for (const from of all) {
      for (const to of all) {
        const result = DaemonStatus.transition(from, to)
        const key = `${from._tag}→${to._tag}`
        expect(Either.isRight(result), key).toBe(legal.has(key))
        if (Either.isLeft(result)) {
          expect(result.left).toBeInstanceOf(DaemonStatus.IllegalTransition)
          expect(result.left.message).toMatch(new RegExp(`^a daemon cannot go from ${from._tag} to ${to._tag}`))
        }
      }
    }
  })

  it("classifies states", () => {
    expect(all.filter(DaemonStatus.isTerminal).map((s) => s._tag)).toEqual(["Stopped", "Failed"])
    expect(all.filter(DaemonStatus.isActive).map((s) => s._tag)).toEqual(["Running", "Paused"])
    expect(DaemonStatus.label(DaemonStatus.Failed({ reason: "crash loop" }))).toBe("failed: crash loop")
    expect(DaemonStatus.label(DaemonStatus.Running())).toBe("running")
  })
})
