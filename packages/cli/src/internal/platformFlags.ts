/**
 * The platforms' own flags on the command line (`--user`, `--driver`,
 * `--image`…): declared to @effect/cli from the loaded modules, and handed back
 * to the module of the platform a command runs on. A flag of another
 * platform is bad usage that names the platform it goes with.
 *
 * @internal
 */
import * as Options from "@effect/cli/Options"
import type { PlatformModule } from "@duende/core/manager"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Module } from "./platforms.js"

/** A flag and the platforms that declare it (where each is named on the command line). */
interface Owned {
  readonly flag: PlatformModule.Flag
  readonly owners: ReadonlyArray<string>
}

/** The parsed flags, as @effect/cli gives them. */
export type Parsed = Readonly<Record<string, unknown>>

/** The platforms' flags for one use, ready to declare, and who owns each. */
export interface Declared {
  readonly options: Options.Options<Parsed>
  readonly owned: ReadonlyMap<string, Owned>
}

const option = (flag: PlatformModule.Flag, description: string): Options.Options<unknown> => {
  switch (flag.type) {
    case "boolean":
      return Options.boolean(flag.name).pipe(Options.withDescription(description))
    case "integer":
      return Options.integer(flag.name).pipe(Options.optional, Options.withDescription(description))
    case "text":
      return Options.text(flag.name).pipe(Options.optional, Options.withDescription(description))
    case "choice":
      return Options.choice(flag.name, flag.choices ?? []).pipe(Options.optional, Options.withDescription(description))
  }
}

/**
 * Declares the flags of `modules` that apply to `use`. `label` names a
 * platform in the help text (`--platform systemd`, or its formats for render).
 */
export const declare = (
  modules: ReadonlyMap<string, Module>,
  use: "render" | "manage",
  label: (kind: string, module: Module) => string
): Declared => {
  const owned = new Map<string, { flag: PlatformModule.Flag; owners: Array<string>; descriptions: Array<string> }>()
  for (const [kind, module] of modules) {
    for (const flag of module.flags) {
      if (!flag.appliesTo.includes(use)) continue
      const entry = owned.get(flag.name) ?? { flag, owners: [], descriptions: [] }
      if (entry.flag.type !== flag.type) {
        throw new Error(`--${flag.name} is a ${entry.flag.type} flag for ${entry.owners.join(", ")} but a ${flag.type} flag for ${kind}`)
      }
      entry.owners.push(kind)
      entry.descriptions.push(`${label(kind, module)}: ${flag.description}`)
      owned.set(flag.name, entry)
    }
  }
  const record: Record<string, Options.Options<unknown>> = {}
  for (const [name, entry] of owned) record[name] = option(entry.flag, entry.descriptions.join("; "))
  const options = owned.size === 0
    ? Options.map(Options.none, (): Parsed => ({}))
    : (Options.all(record) as Options.Options<Parsed>)
  return { options, owned }
}

/** The flags the user gave: booleans that are set, options that have a value. */
const given = (parsed: Parsed): Record<string, string | number | boolean> => {
  const values: Record<string, string | number | boolean> = {}
  for (const [name, value] of Object.entries(parsed)) {
    if (value === true) values[name] = true
    else if (Option.isOption(value) && Option.isSome(value)) values[name] = value.value as string | number
  }
  return values
}

/** The flags the user gave as they would be typed again: `--user`, `--driver runc`. */
export const spelled = (parsed: Parsed): ReadonlyArray<string> =>
  Object.entries(given(parsed)).map(([name, value]) => (value === true ? `--${name}` : `--${name} ${value}`))

/**
 * The flags given for platform `kind`; a flag it does not declare is bad usage
 * that says where it goes (`where` spells a platform as the user would).
 */
export const forPlatform = (
  kind: string,
  parsed: Parsed,
  declared: Declared,
  where: (owners: ReadonlyArray<string>) => string
): Either.Either<PlatformModule.FlagValues, string> => {
  const values = given(parsed)
  for (const name of Object.keys(values)) {
    const owners = declared.owned.get(name)?.owners ?? []
    if (!owners.includes(kind)) return Either.left(`--${name} goes with ${where(owners)}`)
  }
  return Either.right(values)
}
