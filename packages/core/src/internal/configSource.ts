/**
 * Reads the raw content of a config file (JSON or a module's default export),
 * turning every failure into a ConfigError that says what to fix.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { open, stat } from "node:fs/promises"
import { dirname, extname, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { ConfigError } from "../ConfigError.js"
import { duplicateKeys, position } from "./jsonDuplicateKeys.js"

/** The largest config file read: a daemon config is a few KiB; a larger file is refused before it is parsed. */
export const maxConfigFileBytes = 1_048_576

const problem = (source: string, message: string) => new ConfigError({ source, problems: [{ path: "", message }] })

const unreadable = (file: string, error: unknown): string => {
  const code = (error as NodeJS.ErrnoException).code
  switch (code) {
    case "ENOENT":
      return `no such file: ${file}`
    case "ELOOP":
      return `cannot read ${file}: its path is a loop of symbolic links`
    case "EACCES":
    case "EPERM":
      return `cannot read ${file}: permission denied`
    case "ENOTDIR":
      return `no such file: ${file} (a part of the path is not a directory)`
    case "ENAMETOOLONG":
      return `cannot read ${file}: the path is too long`
    default:
      return `cannot read ${file}: ${code ?? (error instanceof Error ? error.message : String(error))}`
  }
}

/** Checks that `file` is a regular file no larger than the limit, without reading it. */
const checkFile = (file: string, source: string) =>
  Effect.tryPromise({ try: () => stat(file), catch: (error) => problem(source, unreadable(file, error)) }).pipe(
    Effect.flatMap((info) =>
      !info.isFile()
        ? Effect.fail(problem(source, `${file} is not a regular file`))
        : info.size > maxConfigFileBytes
        ? Effect.fail(
          problem(source, `${file} is ${info.size} bytes; a config file may be at most ${maxConfigFileBytes} bytes (1 MiB)`)
        )
        : Effect.void
    )
  )

/** Reads at most the limit (and one byte more, to notice a file that grew), as bytes. */
const readBounded = (file: string, source: string) =>
  Effect.tryPromise({
    try: async () => {
      const handle = await open(file, "r")
      try {
        const buffer = Buffer.alloc(maxConfigFileBytes + 1)
        let length = 0
        for (;;) {
          const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null)
          if (bytesRead === 0) break
          length += bytesRead
          if (length === buffer.length) break
        }
        return buffer.subarray(0, length)
      } finally {
        await handle.close()
      }
    },
    catch: (error) => problem(source, unreadable(file, error))
  }).pipe(
    Effect.filterOrFail(
      (bytes) => bytes.length <= maxConfigFileBytes,
      () => problem(source, `${file} is larger than ${maxConfigFileBytes} bytes (1 MiB), the most a config file may be`)
    )
  )

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false })

/** Decodes UTF-8 strictly: a byte sequence that is not UTF-8 is refused, never replaced with U+FFFD. */
const decodeText = (bytes: Uint8Array, source: string) =>
  Effect.try({
    try: () => utf8.decode(bytes),
    catch: () => {
      const offset = firstInvalidUtf8(bytes)
      const line = bytes.subarray(0, offset).reduce((count, byte) => count + (byte === 0x0a ? 1 : 0), 1)
      return problem(
        source,
        `not valid UTF-8 at byte ${offset} (line ${line}): save the file as UTF-8 (a config is never in another encoding)`
      )
    }
  })

/** The offset of the first byte that does not start or continue a valid UTF-8 sequence (RFC 3629). */
const firstInvalidUtf8 = (bytes: Uint8Array): number => {
  let i = 0
  while (i < bytes.length) {
    const lead = bytes[i]!
    const length = lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0
    if (length === 0 || i + length > bytes.length) return i
    // The second byte's range rules out overlong forms, UTF-16 surrogates and code points past U+10FFFF.
    const second = bytes[i + 1] ?? 0
    const low = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80
    const high = lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf
    if (length > 1 && (second < low || second > high)) return i
    for (let k = 2; k < length; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i
    i += length
  }
  return i
}

const parseJson = (text: string, source: string): Effect.Effect<unknown, ConfigError> =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (error) => {
      const message = error instanceof Error ? error.message : String(error)
      const offset = /position (\d+)/.exec(message)
      return problem(
        source,
        `not valid JSON${offset ? ` at ${position(text, Number(offset[1]))}` : ""}: ${message}`
      )
    }
  }).pipe(
    Effect.flatMap((input) => {
      const duplicates = duplicateKeys(text)
      return duplicates.length === 0 ? Effect.succeed(input) : Effect.fail(new ConfigError({ source, problems: duplicates }))
    })
  )

/** Loads a module with jiti: TypeScript, and CommonJS written in a `.js` file of a `"type": "module"` package. */
const importWithJiti = async (file: string): Promise<unknown> =>
  (await import("jiti")).createJiti(import.meta.url ?? pathToFileURL(__filename).href, {
    interopDefault: true,
    moduleCache: false
  }).import<unknown>(file, { default: true })

/** The error Node gives a `.js` file that uses `module.exports` or `require` where `.js` means an ES module. */
const commonJsInModuleScope = (error: unknown) =>
  error instanceof ReferenceError && /\b(module|exports|require) is not defined in ES module scope/.test(error.message)

const importModule = (file: string, source: string): Effect.Effect<unknown, ConfigError> =>
  Effect.tryPromise({
    try: async () => {
      if (/\.[mc]?ts$/.test(file)) return importWithJiti(file)
      try {
        const module = await import(pathToFileURL(file).href)
        return (module as { default?: unknown }).default ?? module
      } catch (error) {
        // PM2's ecosystem.config.js is CommonJS; in an ES module package Node refuses to run it as one.
        if (file.endsWith(".js") && commonJsInModuleScope(error)) return importWithJiti(file)
        throw error
      }
    },
    catch: (error) =>
      problem(source, `could not load the config module: ${error instanceof Error ? error.message : String(error)}`)
  })

/** @internal */
export const readConfigSource = (
  path: string
): Effect.Effect<{ readonly input: unknown; readonly directory: string; readonly source: string }, ConfigError> => {
  const file = resolve(path)
  const source = path
  const extension = extname(file)
  return Effect.gen(function*() {
    let input: unknown
    if (extension === ".json") {
      yield* checkFile(file, source)
      const text = yield* Effect.flatMap(readBounded(file, source), (bytes) => decodeText(bytes, source))
      input = yield* parseJson(text, source)
    } else if ([".js", ".mjs", ".cjs", ".ts", ".mts", ".cts"].includes(extension)) {
      yield* checkFile(file, source)
      input = yield* importModule(file, source)
    } else {
      return yield* Effect.fail(
        problem(source, `unsupported config file type "${extension || "(none)"}": use .json, .js, .mjs, .cjs or .ts`)
      )
    }
    return { input, directory: dirname(file), source }
  })
}
