/**
 * Builds a refusal error (`BreakerOpen`, `RateLimited`) without capturing a
 * stack trace: the stack of an error made inside a policy says nothing its
 * fields do not, and capturing it costs more than everything else a refused
 * call does together. Each call still makes a new error.
 *
 * @internal
 */
const limit = Object.getOwnPropertyDescriptor(Error, "stackTraceLimit")
const canSkip = limit !== undefined && limit.writable === true

export const withoutStack = <A>(make: () => A): A => {
  if (!canSkip) return make()
  const before = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return make()
  } finally {
    Error.stackTraceLimit = before
  }
}
