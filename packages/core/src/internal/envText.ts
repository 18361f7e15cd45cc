/**
 * Environment values written as numbers or booleans (`"PORT": 8080`, as PM2
 * ecosystem files and many JSON configs have them): taken as their text, the
 * way a shell would see them, with a note naming each one. Other values are
 * left for the schema to judge (an object is still an error).
 *
 * @internal
 */

const isScalar = (value: unknown): value is number | boolean =>
  typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value))

const envOf = (input: object): Record<string, unknown> | undefined => {
  const env = (input as { readonly env?: unknown }).env
  return env !== null && typeof env === "object" && !Array.isArray(env) ? (env as Record<string, unknown>) : undefined
}

/** The input with its `env` numbers and booleans as strings (a copy; the input is not changed). */
export const withTextValues = (input: object): object => {
  const env = envOf(input)
  if (env === undefined || !Object.values(env).some(isScalar)) return input
  return { ...input, env: Object.fromEntries(Object.entries(env).map(([key, value]) => [key, isScalar(value) ? String(value) : value])) }
}

/** One note per converted value: `env.PORT: the number 8080 is taken as the string "8080"`. */
export const notes = (input: unknown): ReadonlyArray<string> => {
  if (input === null || typeof input !== "object") return []
  const env = envOf(input)
  if (env === undefined) return []
  return Object.entries(env).filter(([, value]) => isScalar(value)).map(([key, value]) =>
    `env.${/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : JSON.stringify(key)}: the ${typeof value} ${String(value)} is taken as the string "${String(value)}" (environment values are text)`
  )
}
