/**
 * What the host checks in a module before running it, from the binary itself
 * (JavaScript's `WebAssembly.Module.imports` does not give a memory's limits).
 */

/** The limits of the module's `env.memory` import, in 64 KiB pages. */
export interface MemoryLimits {
  readonly minimum: number
  readonly maximum: number | undefined
  readonly shared: boolean
}

/** The limits of the `env.memory` import, or undefined when the module has none (or is not WebAssembly). */
export const memoryImport = (bytes: Uint8Array): MemoryLimits | undefined => {
  let at = 8
  const byte = () => bytes[at++]!
  const leb = () => {
    let result = 0
    let shift = 0
    for (;;) {
      const b = byte()
      result += (b & 0x7f) * 2 ** shift
      shift += 7
      if ((b & 0x80) === 0) return result
    }
  }
  const name = () => {
    const length = leb()
    const text = new TextDecoder().decode(bytes.subarray(at, at + length))
    at += length
    return text
  }
  const limits = () => {
    const flags = byte()
    const minimum = leb()
    const maximum = (flags & 1) === 1 ? leb() : undefined
    return { minimum, maximum, shared: (flags & 2) === 2 }
  }
  while (at < bytes.length) {
    const id = byte()
    const size = leb()
    if (id !== 2) {
      at += size
      continue
    }
    const count = leb()
    for (let i = 0; i < count; i++) {
      const module = name()
      const field = name()
      const kind = byte()
      if (kind === 0) leb()
      else if (kind === 1) {
        byte()
        limits()
      } else if (kind === 2) {
        const memory = limits()
        if (module === "env" && field === "memory") return memory
      } else if (kind === 3) {
        byte()
        byte()
      } else {
        byte()
        leb()
      }
    }
    return undefined
  }
  return undefined
}
