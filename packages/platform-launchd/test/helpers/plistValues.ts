// fast-check generators of plist values: every type, nested, with hostile strings where the
// writer must accept them (everything XML 1.0 can carry).
import fc from "fast-check"
import * as Plist from "../../src/Plist.js"
import { hostile } from "./hostile.js"

/** Text the writer must accept: hostile, minus what XML 1.0 cannot carry. */
export const writable = (maxLength = 24) => hostile(maxLength).filter((s) => Plist.problem(s) === undefined)

const scalar: fc.Arbitrary<Plist.Value> = fc.oneof(
  writable().map(Plist.string),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(Plist.integer),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(Plist.real),
  fc.boolean().map(Plist.bool),
  fc.integer({ min: -62135596800, max: 253402300799 }).map((s) => Plist.date(new Date(s * 1000))),
  fc.uint8Array({ maxLength: 40 }).map(Plist.data)
)

/** Any plist value, up to a few levels deep. */
export const value: fc.Arbitrary<Plist.Value> = fc.letrec<{ value: Plist.Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("value"), { maxLength: 4 }).map(Plist.array),
    fc.uniqueArray(fc.tuple(writable(12), tie("value")), { maxLength: 4, selector: ([k]) => k }).map((entries) => Plist.dict(entries))
  )
})).value
