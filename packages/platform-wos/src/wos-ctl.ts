#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
/**
 * The `wos-ctl` command (see `WosCtl`). SIGINT and SIGTERM end `boot`
 * cleanly: its processes are terminated and its socket removed.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { main } from "./WosCtl.js"

const fiber = Effect.runFork(main(process.argv.slice(2)))
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void Effect.runFork(Fiber.interrupt(fiber)))
}
fiber.addObserver((exit) => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return
  const failure = Cause.failureOption(exit.cause)
  process.stderr.write(`wos-ctl: ${failure._tag === "Some" ? failure.value.message : Cause.pretty(exit.cause)}\n`)
  process.exitCode = 1
})
