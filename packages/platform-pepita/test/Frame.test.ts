import * as Either from "effect/Either"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Frame from "../src/Frame.js"

const text = fc.string({ maxLength: 40 })
const signal = fc.constantFrom("SIGTERM", "SIGHUP", "SIGKILL", "SIGUSR2")
const count = fc.nat({ max: 2 ** 31 })

const frame: fc.Arbitrary<Frame.Frame> = fc.oneof(
  fc.record({
    _tag: fc.constant("TaskSubmit" as const),
    id: text,
    program: text,
    args: fc.array(text, { maxLength: 5 }),
    env: fc.dictionary(text.filter((name) => name !== "" && !/[=\0]/.test(name) && name !== "__proto__"), text, { maxKeys: 5 }),
    cwd: fc.option(text, { nil: undefined }),
    shutdownTimeoutMs: count
  }, { requiredKeys: ["_tag", "id", "program", "args", "env", "shutdownTimeoutMs"] }),
  fc.record({ _tag: fc.constant("TaskResult" as const), id: text, code: fc.option(fc.integer(), { nil: null }), signal: fc.option(signal, { nil: null }) }),
  fc.record({ _tag: fc.constant("Heartbeat" as const), seq: count, uptimeMs: count, pid: fc.option(count, { nil: null }) }),
  fc.record({ _tag: fc.constant("TaskCancel" as const), id: text, signal }),
  fc.record({ _tag: fc.constant("Ack" as const), of: fc.constantFrom("TaskSubmit" as const, "TaskCancel" as const, "Shutdown" as const), id: text, pid: count }),
  fc.record({ _tag: fc.constant("Error" as const), message: text, id: text }),
  fc.record({ _tag: fc.constant("Shutdown" as const), timeoutMs: count }),
  fc.record({ _tag: fc.constant("Register" as const), agent: text, kernel: text, uptimeMs: count }),
  fc.record({ _tag: fc.constant("Deregister" as const), reason: text }),
  fc.record({
    _tag: fc.constant("Status" as const),
    id: text,
    event: fc.oneof(
      fc.constant({ _tag: "Ready" as const }),
      fc.record({ _tag: fc.constant("StatusText" as const), text }),
      fc.record({ _tag: fc.constant("Output" as const), stream: fc.constantFrom("stdout" as const, "stderr" as const), text }),
      fc.record({
        _tag: fc.constant("Health" as const),
        state: fc.constantFrom("starting" as const, "healthy" as const, "unhealthy" as const),
        consecutiveFailures: count,
        summary: text
      })
    )
  })
)

const bytes = (f: Frame.Frame) => Either.getOrThrow(Frame.encode(f))

/** Cuts a buffer into pieces at the given points. */
const split = (buffer: Buffer, cuts: ReadonlyArray<number>) => {
  const points = [...new Set(cuts.map((c) => c % (buffer.length + 1)))].sort((a, b) => a - b)
  const pieces: Array<Buffer> = []
  let last = 0
  for (const point of points) {
    pieces.push(buffer.subarray(last, point))
    last = point
  }
  pieces.push(buffer.subarray(last))
  return pieces
}

describe("Frame", () => {
  it("writes pepita's header: u32 big-endian payload length, then the type byte", () => {
    const encoded = bytes({ _tag: "Shutdown", timeoutMs: 5 })
    const payload = Buffer.from(JSON.stringify({ timeoutMs: 5 }))
    expect(encoded.readUInt32BE(0)).toBe(payload.length)
    expect(encoded[4]).toBe(6)
    expect(encoded.subarray(5)).toEqual(payload)
    expect(Object.values(Frame.typeByte).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  it("decodes what it encodes, however the stream is cut", () => {
    fc.assert(fc.property(fc.array(frame, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), (frames, cuts) => {
      const decoder = Frame.decoder()
      const out = split(Buffer.concat(frames.map(bytes)), cuts).flatMap((piece) => decoder.push(piece))
      expect(out).toEqual(frames.map((f) => Either.right(f)))
      expect(decoder.pending()).toBe(0)
    }))
  })

  it("turns garbage into errors and keeps decoding the frames after it", () => {
    const garbage = fc.oneof(
      // unknown type
      fc.record({ type: fc.integer({ min: 10, max: 255 }), payload: fc.uint8Array({ maxLength: 30 }) }),
      // a known type with bytes that are not a JSON object, or an object its schema refuses
      fc.record({
        type: fc.integer({ min: 0, max: 9 }),
        payload: fc.oneof(
          fc.uint8Array({ maxLength: 30 }).filter((b) => b[0] !== 0x7b),
          fc.constantFrom("[]", "null", "{\"id\":7}", "{", "{\"signal\":\"TERM\"}").map((s) => Buffer.from(s))
        )
      })
    )
    fc.assert(fc.property(fc.array(garbage, { minLength: 1, maxLength: 4 }), frame, fc.array(fc.nat(), { maxLength: 6 }), (junk, good, cuts) => {
      const raw = junk.map(({ payload, type }) => {
        const header = Buffer.alloc(5)
        header.writeUInt32BE(payload.length, 0)
        header.writeUInt8(type, 4)
        return Buffer.concat([header, Buffer.from(payload)])
      })
      const decoder = Frame.decoder()
      const out = split(Buffer.concat([...raw, bytes(good)]), cuts).flatMap((piece) => decoder.push(piece))
      // Shutdown's fields are all optional: "{}"-like objects are a valid Shutdown; everything else is an error.
      const errors = out.filter(Either.isLeft)
      expect(errors.length).toBeGreaterThanOrEqual(junk.filter((j) => j.type !== 6).length)
      expect(out.at(-1)).toEqual(Either.right(good))
    }))
  })

  it("skips an oversized payload without buffering it, then reads on", () => {
    const decoder = Frame.decoder()
    const header = Buffer.alloc(5)
    header.writeUInt32BE(Frame.maxPayload + 10, 0)
    header.writeUInt8(9, 4)
    expect(decoder.push(header)).toEqual([])
    // The payload arrives in pieces; none of it is kept.
    for (let sent = 0; sent < Frame.maxPayload; sent += 64 * 1024) {
      expect(decoder.push(Buffer.alloc(64 * 1024))).toEqual([])
      expect(decoder.pending()).toBe(0)
    }
    const out = decoder.push(Buffer.concat([Buffer.alloc(10), bytes({ _tag: "Deregister", reason: "x" })]))
    expect(out).toHaveLength(2)
    expect(Either.isLeft(out[0]!) && out[0].left.reason).toMatch(/exceeds/)
    expect(out[1]).toEqual(Either.right({ _tag: "Deregister", reason: "x" }))
  })

  it("refuses to encode a payload over the bound", () => {
    const result = Frame.encode({ _tag: "Deregister", reason: "x".repeat(Frame.maxPayload) })
    expect(Either.isLeft(result)).toBe(true)
  })

  it("refuses an environment a process could not get: a name with \"=\", or __proto__ (which an object would lose)", () => {
    const submit = (env: string) =>
      Frame.decodePayload(0, Buffer.from(`{"id":"a","program":"p","args":[],"env":${env},"shutdownTimeoutMs":1}`))
    expect(submit(`{"__proto__":"x"}`)).toMatchObject(Either.left({ reason: expect.stringMatching(/__proto__/) }))
    expect(Either.isLeft(submit(`{"A=B":"x"}`))).toBe(true)
    expect(submit(`{"A":"x"}`)).toMatchObject(Either.right({ env: { A: "x" } }))
  })

  it("names the field a payload got wrong", () => {
    const result = Frame.decodePayload(3, Buffer.from(JSON.stringify({ id: "a", signal: "TERM" })))
    expect(Either.isLeft(result) && result.left.message).toMatch(/TaskCancel[\s\S]*signal/)
  })
})
