/**
 * Environment values (of `env` and of each `envProfiles` entry) written as numbers or booleans (`"PORT": 8080`, as PM2
 * ecosystem files and many JSON configs have them): taken as their text, the
 * way a shell would see them, with a note naming each one. Other values are
 * left for the schema to judge (an object is still an error).
 *
 * @internal
 */

const isScalar = (value: unknown): value is number | boolean =>
  typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value))

const objectAt = (input: object, key: "env" | "envProfiles"): Record<string, unknown> | undefined => {
  const value = (input as Readonly<Record<string, unknown>>)[key]
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
}

const shownKey = (key: string) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : JSON.stringify(key))

/** The `env` of the config and of each of its `envProfiles`, with the path that names it. */
const envsOf = (input: object): ReadonlyArray<readonly [string, Record<string, unknown>]> => {
  const env = objectAt(input, "env")
  const profiles = objectAt(input, "envProfiles")
  return [
    ...(env === undefined ? [] : [["env", env] as const]),
    ...(profiles === undefined ? [] : Object.entries(profiles).flatMap(([name, value]) => {
      const profile = value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
      return profile === undefined ? [] : [[`envProfiles.${shownKey(name)}`, profile] as const]
    }))
  ]
}

const textValues = (env: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(env).map(([key, value]) => [key, isScalar(value) ? String(value) : value]))

/** The input with the numbers and booleans of `env` and `envProfiles` as strings (a copy; the input is not changed). */
export const withTextValues = (input: object): object => {
  if (!envsOf(input).some(([, env]) => Object.values(env).some(isScalar))) return input
  const env = objectAt(input, "env")
  const profiles = objectAt(input, "envProfiles")
  return {
    ...input,
    ...(env === undefined ? {} : { env: textValues(env) }),
    ...(profiles === undefined ? {} : {
      envProfiles: Object.fromEntries(Object.entries(profiles).map(([name, value]) =>
        [name, value !== null && typeof value === "object" && !Array.isArray(value) ? textValues(value as Record<string, unknown>) : value]
      ))
    })
  }
}

/** One note per converted value: `env.PORT: the number 8080 is taken as the string "8080"`. */
export const notes = (input: unknown): ReadonlyArray<string> => {
  if (input === null || typeof input !== "object") return []
  return envsOf(input).flatMap(([path, env]) =>
    Object.entries(env).filter(([, value]) => isScalar(value)).map(([key, value]) =>
      `${path}.${shownKey(key)}: the ${typeof value} ${String(value)} is taken as the string "${String(value)}" (environment values are text)`
    )
  )
}
