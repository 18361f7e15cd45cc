import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as HashSet from "effect/HashSet"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { closeSync, fstatSync, mkdtempSync, openSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as JournalLogger from "../src/JournalLogger.js"

describe("JournalLogger", () => {
  it("recognises the journal stream by device and inode, not by the variable alone", () => {
    const fd = openSync(join(mkdtempSync(join(tmpdir(), "duende-journal-")), "stream"), "w")
    const stat = fstatSync(fd, { bigint: true })
    expect(JournalLogger.isJournalStream({ JOURNAL_STREAM: `${stat.dev}:${stat.ino}` }, fd)).toBe(true)
    expect(JournalLogger.isJournalStream({ JOURNAL_STREAM: `${stat.dev}:${stat.ino + 1n}` }, fd)).toBe(false)
    expect(JournalLogger.isJournalStream({ JOURNAL_STREAM: "garbage" }, fd)).toBe(false)
    expect(JournalLogger.isJournalStream({}, fd)).toBe(false)
    closeSync(fd)
  })

  it("prefixes every line with its priority", () => {
    expect(JournalLogger.format(LogLevel.Error, "api", "failed\n  at x")).toBe("<3>[api] failed\n<3>  at x\n")
    expect(JournalLogger.format(LogLevel.Warning, undefined, "careful")).toBe("<4>careful\n")
    expect(JournalLogger.format(LogLevel.Info, "api", "ready")).toBe("<6>[api] ready\n")
    expect(JournalLogger.format(LogLevel.Debug, "api", "x")).toBe("<7>[api] x\n")
  })

  it.effect("writes entries with the daemon annotation", () =>
    Effect.gen(function*() {
      const written: Array<string> = []
      const write = process.stderr.write
      process.stderr.write = ((chunk: string) => {
        written.push(chunk)
        return true
      }) as typeof process.stderr.write
      try {
        yield* Effect.logWarning("disk almost full").pipe(
          Effect.annotateLogs("daemon", "api"),
          Effect.provide(Logger.replace(Logger.defaultLogger, JournalLogger.logger))
        )
      } finally {
        process.stderr.write = write
      }
      expect(written).toEqual(["<4>[api] disk almost full\n"])
    }))

  it.effect("the layer swaps the line loggers only when stderr is the journal", () =>
    Effect.gen(function*() {
      const loggers = FiberRef.get(FiberRef.currentLoggers)
      const saved = process.env.JOURNAL_STREAM
      try {
        delete process.env.JOURNAL_STREAM
        const before = yield* loggers
        const unchanged = yield* loggers.pipe(Effect.provide(JournalLogger.layer))
        expect(unchanged).toEqual(before)
        const stat = fstatSync(2, { bigint: true })
        process.env.JOURNAL_STREAM = `${stat.dev}:${stat.ino}`
        // Every line logger that was there (core's, Effect's default) is gone.
        const only = yield* Effect.provide(loggers, Layer.provideMerge(JournalLogger.layer, Logger.add(Logger.defaultLogger)))
        expect(HashSet.has(only, Logger.defaultLogger)).toBe(false)
        expect(HashSet.has(only, JournalLogger.logger)).toBe(true)
      } finally {
        if (saved === undefined) delete process.env.JOURNAL_STREAM
        else process.env.JOURNAL_STREAM = saved
      }
    }))
})
