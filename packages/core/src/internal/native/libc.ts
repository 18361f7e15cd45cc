/**
 * libc through the optional koffi dependency, loaded once and lazily: the one
 * loader of the reaper (prctl, waitpid), the held listen sockets (socket,
 * bind, listen) and the rlimits (prlimit). Linux only; otherwise, or without
 * koffi, the reason.
 *
 * @internal
 */
import { createRequire } from "node:module"

/** The part of koffi's API used here. */
export interface Koffi {
  readonly load: (name: string) => Library
  readonly errno: () => number
  readonly struct: (name: string, fields: Record<string, string>) => unknown
}

export interface Library {
  readonly func: (signature: string) => (...args: Array<unknown>) => number
}

let loaded: { readonly koffi: Koffi; readonly libc: Library } | string | undefined

/** koffi and libc, or why they cannot be had here. */
export const libc = (): { readonly koffi: Koffi; readonly libc: Library } | string => {
  if (loaded !== undefined) return loaded
  if (process.platform !== "linux") return (loaded = "it needs Linux")
  let koffi: Koffi
  try {
    koffi = createRequire(import.meta.url ?? __filename)("koffi") as Koffi
  } catch (error) {
    return (loaded = `the optional dependency koffi is not installed (${(error as Error).message.split("\n")[0]})`)
  }
  try {
    loaded = { koffi, libc: koffi.load("libc.so.6") }
  } catch (error) {
    loaded = `libc could not be loaded through koffi (${(error as Error).message})`
  }
  return loaded
}
