/**
 * The few libc calls Node core lacks for systemd (an AF_UNIX datagram socket
 * for sd_notify, fcntl for inherited listen fds), through koffi's prebuilt FFI
 * binaries: nothing is compiled on the user's machine. koffi is an optional
 * dependency, loaded on first use and only on Linux.
 *
 * @internal
 */
import { createRequire } from "node:module"
import { endianness } from "node:os"

type Native = (...args: Array<unknown>) => number

interface Koffi {
  readonly load: (name: string | null) => { readonly func: (signature: string) => Native }
  readonly errno: () => number
}

export interface Libc {
  readonly socket: (domain: number, type: number, protocol: number) => number
  readonly sendto: (fd: number, buffer: Buffer, length: number, flags: number, address: Buffer, addressLength: number) => number
  readonly close: (fd: number) => number
  readonly fcntl: (fd: number, command: number, argument: number) => number
  /** errno of the last failed call on this thread. */
  readonly errno: () => number
}

export const AF_UNIX = 1
export const SOCK_DGRAM = 2
export const SOCK_CLOEXEC = 0o2000000
export const MSG_DONTWAIT = 0x40
export const MSG_NOSIGNAL = 0x4000
export const F_GETFD = 1
export const F_SETFD = 2
export const FD_CLOEXEC = 1
export const EAGAIN = 11
export const EINTR = 4

let cached: Libc | string | undefined

const load = (): Libc | string => {
  if (process.platform !== "linux") return `sd_notify needs Linux (this is ${process.platform})`
  let koffi: Koffi
  try {
    koffi = createRequire(import.meta.url ?? __filename)("koffi") as Koffi
  } catch (error) {
    return `the optional dependency koffi is not installed (${String((error as Error).message).split("\n")[0]})`
  }
  try {
    // The symbols of the process itself: Node links libc dynamically, glibc or musl alike.
    const self = koffi.load(null)
    return {
      socket: self.func("int socket(int domain, int type, int protocol)"),
      sendto: self.func(
        "long sendto(int fd, const void *buf, unsigned long len, int flags, const void *addr, unsigned int addrlen)"
      ),
      close: self.func("int close(int fd)"),
      fcntl: self.func("int fcntl(int fd, int cmd, int arg)"),
      errno: () => koffi.errno()
    }
  } catch (error) {
    return `libc could not be reached through koffi (${(error as Error).message})`
  }
}

/** libc through koffi, or why it is not available. Loaded once. */
export const libc = (): Libc | string => {
  if (cached === undefined) cached = load()
  return cached
}

/**
 * A `struct sockaddr_un` for a `$NOTIFY_SOCKET` value: an absolute path, or
 * `@name` for the abstract namespace (a leading NUL byte, no terminator).
 * Returns a reason when the value is neither or is too long.
 */
export const unixAddress = (value: string): Buffer | string => {
  const abstract = value.startsWith("@")
  if (!abstract && !value.startsWith("/")) {
    return `NOTIFY_SOCKET=${value} is neither an absolute path nor an abstract "@name" socket`
  }
  const path = Buffer.from(abstract ? `\0${value.slice(1)}` : value, "utf8")
  // sun_path holds 108 bytes; a path needs room for its terminating NUL.
  if (path.length > (abstract ? 108 : 107)) return `NOTIFY_SOCKET=${value} is longer than a unix socket address`
  const address = Buffer.alloc(2 + path.length + (abstract ? 0 : 1))
  if (endianness() === "LE") address.writeUInt16LE(AF_UNIX, 0)
  else address.writeUInt16BE(AF_UNIX, 0)
  path.copy(address, 2)
  return address
}
