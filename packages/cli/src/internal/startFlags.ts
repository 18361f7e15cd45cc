/**
 * The flags `duende start` takes for scripts and files of several daemons,
 * as PM2 users know them: `--name`, `--interpreter`, `-i N|max`, `--env NAME`,
 * `--only a,b`, `--watch`.
 *
 * @internal
 */
import * as Options from "@effect/cli/Options"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { StartOptions } from "./startTarget.js"

/** The options, to spread into a command's config. */
export const options = {
  name: Options.text("name").pipe(
    Options.optional,
    Options.withDescription("With a script or a command line: the daemon's name (default: the file's or program's name)")
  ),
  interpreter: Options.text("interpreter").pipe(
    Options.optional,
    Options.withDescription("With a script: the program that runs it (node, python3…; none: the file itself)")
  ),
  instances: Options.text("instances").pipe(
    Options.withAlias("i"),
    Options.optional,
    Options.withDescription("How many copies run (a number, or max: one per CPU), as the config's instances")
  ),
  env: Options.text("env").pipe(
    Options.optional,
    Options.withDescription("The env profile (the config's envProfiles.NAME, PM2's env_NAME) set over its env")
  ),
  only: Options.text("only").pipe(
    Options.optional,
    Options.withDescription("Of a file of several daemons (or a PM2 ecosystem file): only these, comma-separated")
  ),
  watch: Options.boolean("watch").pipe(
    Options.withDescription("Restart the daemon when a file in its working directory changes (the config's watch: true)")
  )
}

/** What the options were given as. */
export interface Given {
  readonly name: Option.Option<string>
  readonly interpreter: Option.Option<string>
  readonly instances: Option.Option<string>
  readonly env: Option.Option<string>
  readonly only: Option.Option<string>
  readonly watch: boolean
}

/** Whether any of them, or any argument for a script, was given. */
export const anyGiven = (given: Given, args: ReadonlyArray<string>): boolean =>
  args.length > 0 || given.watch || [given.name, given.interpreter, given.instances, given.env, given.only].some(Option.isSome)

/** The options checked, or what is wrong with one (bad usage). */
export const parse = (given: Given, args: ReadonlyArray<string>, cwd: string): Either.Either<StartOptions, string> => {
  const instances = Option.getOrUndefined(given.instances)
  const count = instances === undefined || instances === "max" ? instances : /^\d{1,3}$/.test(instances) ? Number(instances) : Number.NaN
  if (Number.isNaN(count) || count === 0 || (typeof count === "number" && count > 256)) {
    return Either.left(`-i/--instances: expected a number from 1 to 256 or max, got ${JSON.stringify(instances)}`)
  }
  const only = Option.getOrUndefined(given.only)?.split(",").map((name) => name.trim()).filter((name) => name !== "")
  if (only !== undefined && only.length === 0) return Either.left("--only: expected daemon names, comma-separated")
  return Either.right({
    name: Option.getOrUndefined(given.name),
    interpreter: Option.getOrUndefined(given.interpreter),
    args,
    cwd,
    profile: Option.getOrUndefined(given.env),
    only,
    instances: count as number | "max" | undefined,
    watch: given.watch
  })
}
