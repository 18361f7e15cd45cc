/**
 * Cron schedules (`restart.cron`): parsed and stepped by croner, a maintained
 * parser with no dependencies (5 fields, or 6 with seconds first; `L`, `#`,
 * `W`, names of months and days), in the supervisor's local time. Time comes
 * from `Clock`, so a TestClock drives a schedule in tests.
 *
 * @internal
 */
import { Cron } from "croner"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/** The longest an expression may be: a real one is a few dozen characters. */
const maxLength = 256

const parse = (expression: string): Cron => new Cron(expression, { paused: true })

/** What is wrong with a cron expression, in croner's words, or undefined when it parses. */
export const cronProblem = (expression: string): string | undefined => {
  if (expression.length > maxLength) return `at most ${maxLength} characters`
  try {
    const cron = parse(expression)
    return cron.nextRun(new Date(0)) === null ? "it never fires" : undefined
  } catch (error) {
    return error instanceof Error ? error.message.replace(/^CronPattern: /, "") : String(error)
  }
}

/** When the schedule next fires strictly after `afterMillis` (epoch ms), or undefined when never again. */
export const nextRun = (expression: string, afterMillis: number): number | undefined =>
  parse(expression).nextRun(new Date(afterMillis))?.getTime()

/**
 * Runs `effect` each time the schedule fires, forever (until interrupted); a
 * failure of one run is logged and the schedule goes on.
 */
export const onSchedule = <E, R>(expression: string, effect: Effect.Effect<void, E, R>): Effect.Effect<void, never, R> =>
  Effect.gen(function*() {
    for (;;) {
      const now = yield* Clock.currentTimeMillis
      const next = nextRun(expression, now)
      if (next === undefined) return
      yield* Effect.sleep(Duration.millis(Math.max(0, next - now)))
      // Woken before the time (the wall clock was set back meanwhile): wait again for the schedule's next run.
      if ((yield* Clock.currentTimeMillis) < next) continue
      yield* Effect.catchAllCause(effect, (cause) => Effect.logWarning(`the scheduled run of "${expression}" failed`, cause))
    }
  })
