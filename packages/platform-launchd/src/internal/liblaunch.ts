/**
 * The one C call socket activation needs, through koffi (an optional
 * dependency with prebuilt binaries, loaded on first use):
 *
 *     int launch_activate_socket(const char *name, int **fds, size_t *cnt);
 *
 * launchd allocates the array; the caller frees it. This file is the whole
 * FFI boundary; everything around it is plain TypeScript.
 *
 * @internal
 */
import { createRequire } from "node:module"

/** The fds launchd handed over for a name, or the errno it returned. */
export type Activation = { readonly fds: ReadonlyArray<number> } | { readonly errno: number }

/** Activates the sockets of one name. */
export type Activate = (name: string) => Activation

interface Koffi {
  readonly load: (path: string) => { readonly func: (signature: string) => (...args: Array<unknown>) => unknown }
  readonly decode: (pointer: unknown, type: string, length: number) => ReadonlyArray<number>
  readonly free: (pointer: unknown) => void
}

/** Where launch_activate_socket lives on macOS (liblaunch, re-exported by libSystem). */
export const libSystem = "/usr/lib/libSystem.B.dylib"

/** Binds launch_activate_socket in `library`, or says why it cannot. */
export const bind = (library: string): Activate | string => {
  let koffi: Koffi
  try {
    koffi = createRequire(import.meta.url ?? __filename)("koffi") as Koffi
  } catch (error) {
    return `the optional dependency koffi is not installed (${String((error as Error).message).split("\n")[0]})`
  }
  let call: (...args: Array<unknown>) => unknown
  try {
    call = koffi.load(library).func("int launch_activate_socket(const char *name, _Out_ int **fds, _Out_ size_t *cnt)")
  } catch (error) {
    return `launch_activate_socket could not be reached in ${library} (${(error as Error).message})`
  }
  return (name) => {
    const fds: Array<unknown> = [null]
    const count: Array<unknown> = [0]
    const errno = Number(call(name, fds, count))
    if (errno !== 0) return { errno }
    const n = Number(count[0])
    if (n === 0 || fds[0] === null) return { fds: [] }
    try {
      return { fds: [...koffi.decode(fds[0], "int", n)] }
    } finally {
      koffi.free(fds[0])
    }
  }
}
