/**
 * Sockets the native supervisor holds for a daemon (`listen` in its config):
 * bound and listening once, kept open while the daemon restarts — the
 * kernel's backlog holds new connections meanwhile, so a restart or a crash
 * refuses none — and passed to each run by systemd's protocol (fds from 3,
 * `LISTEN_FDS`, `LISTEN_FDNAMES`, `LISTEN_PID`).
 *
 * They are made with libc's socket/bind/listen through koffi, not with
 * `net.Server`: a Node server would accept connections itself, in the
 * supervisor, since libuv polls every socket it listens on; these fds are
 * never polled here. Without koffi (or off Linux) a daemon with `listen`
 * cannot start, and says why.
 *
 * @internal
 */
import { chmodSync, lstatSync, unlinkSync } from "node:fs"
import { isIP } from "node:net"
import type { Listener } from "../../DaemonConfig.js"
import { libc } from "./libc.js"

/** The sockets of one daemon, open. */
export interface HeldSockets {
  /** The fds, in the config's order (each becomes fd 3 + its index in the daemon). */
  readonly fds: ReadonlyArray<number>
  readonly names: ReadonlyArray<string>
  /** The config they were made for (JSON), to make them again when it changes. */
  readonly key: string
  readonly close: () => void
}

interface Libc {
  readonly socket: (domain: number, type: number, protocol: number) => number
  readonly setsockopt: (fd: number, level: number, name: number, value: Buffer, length: number) => number
  readonly bind: (fd: number, address: Buffer, length: number) => number
  readonly listen: (fd: number, backlog: number) => number
  readonly close: (fd: number) => number
  readonly errno: () => number
}

const AF_UNIX = 1
const AF_INET = 2
const AF_INET6 = 10
const SOCK_STREAM = 1
const SOCK_CLOEXEC = 0o2000000
const SOL_SOCKET = 1
const SO_REUSEADDR = 2
const IPPROTO_IPV6 = 41
const IPV6_V6ONLY = 26

const errnoNames: Record<number, string> = {
  1: "EPERM",
  13: "EACCES: a port below 1024 needs root or CAP_NET_BIND_SERVICE",
  22: "EINVAL",
  98: "EADDRINUSE: the address is in use",
  99: "EADDRNOTAVAIL: no interface has this address"
}

let loaded: Libc | string | undefined
const sockets = (): Libc | string => {
  if (loaded !== undefined) return loaded
  const found = libc()
  if (typeof found === "string") return (loaded = `sockets held by the supervisor: ${found}`)
  const { koffi, libc: lib } = found
  return (loaded = {
    socket: lib.func("int socket(int domain, int type, int protocol)"),
    setsockopt: lib.func("int setsockopt(int fd, int level, int name, const void *value, uint32_t length)"),
    bind: lib.func("int bind(int fd, const void *address, uint32_t length)"),
    listen: lib.func("int listen(int fd, int backlog)"),
    close: lib.func("int close(int fd)"),
    errno: () => koffi.errno()
  })
}

/** The sockaddr of a listener: sockaddr_in, sockaddr_in6 or sockaddr_un. */
const address = (listener: Listener): { readonly domain: number; readonly bytes: Buffer } => {
  if (listener.path !== undefined) {
    const bytes = Buffer.alloc(110)
    bytes.writeUInt16LE(AF_UNIX, 0)
    bytes.write(listener.path, 2, "utf8")
    return { domain: AF_UNIX, bytes: bytes.subarray(0, 2 + Buffer.byteLength(listener.path) + 1) }
  }
  const host = listener.host
  if (isIP(host) === 6) {
    const bytes = Buffer.alloc(28)
    bytes.writeUInt16LE(AF_INET6, 0)
    bytes.writeUInt16BE(listener.port ?? 0, 2)
    ipv6Bytes(host).copy(bytes, 8)
    return { domain: AF_INET6, bytes }
  }
  const bytes = Buffer.alloc(16)
  bytes.writeUInt16LE(AF_INET, 0)
  bytes.writeUInt16BE(listener.port ?? 0, 2)
  host.split(".").forEach((part, index) => bytes.writeUInt8(Number(part), 4 + index))
  return { domain: AF_INET, bytes }
}

/** The 16 bytes of an IPv6 address ("::1", "fe80::1"). */
const ipv6Bytes = (host: string): Buffer => {
  const [head = "", tail] = host.split("::")
  const groups = (text: string) => (text === "" ? [] : text.split(":"))
  const left = groups(head)
  const right = tail === undefined ? [] : groups(tail)
  const all = [...left, ...Array.from({ length: 8 - left.length - right.length }, () => "0"), ...right]
  const out = Buffer.alloc(16)
  all.forEach((group, index) => out.writeUInt16BE(parseInt(group, 16), index * 2))
  return out
}

/** Where a listener listens, for messages: "127.0.0.1:8080", "[::1]:8080", "/run/app.sock". */
export const describe = (listener: Listener): string =>
  listener.path ?? (isIP(listener.host) === 6 ? `[${listener.host}]:${listener.port}` : `${listener.host}:${listener.port}`)

/** A stale socket file of this user is replaced; anything else at the path is refused. */
const clearPath = (path: string): string | undefined => {
  let stat
  try {
    stat = lstatSync(path)
  } catch {
    return undefined
  }
  const uid = process.getuid?.()
  if (!stat.isSocket()) return `${path} exists and is not a socket: not replaced`
  if (uid !== undefined && stat.uid !== uid) return `${path} is a socket of another user (uid ${stat.uid}): not replaced`
  unlinkSync(path)
  return undefined
}

/** Binds and listens on every listener, or closes what it opened and says why. */
export const holdSockets = (listeners: ReadonlyArray<Listener>): HeldSockets | string => {
  const c = sockets()
  if (typeof c === "string") return c
  const fds: Array<number> = []
  const closeAll = () => {
    for (const fd of fds.splice(0)) c.close(fd)
  }
  const one = Buffer.alloc(4)
  one.writeInt32LE(1)
  for (const listener of listeners) {
    const where = `listen "${listener.name}" (${describe(listener)})`
    if (listener.path !== undefined) {
      const refused = clearPath(listener.path)
      if (refused !== undefined) {
        closeAll()
        return `${where}: ${refused}`
      }
    }
    const { bytes, domain } = address(listener)
    const fd = c.socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0)
    if (fd < 0) {
      closeAll()
      return `${where}: socket() failed (${errnoNames[c.errno()] ?? `errno ${c.errno()}`})`
    }
    fds.push(fd)
    if (domain !== AF_UNIX) c.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, 4)
    if (domain === AF_INET6) c.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, one, 4)
    if (c.bind(fd, bytes, bytes.length) !== 0 || c.listen(fd, listener.backlog) !== 0) {
      const errno = c.errno()
      closeAll()
      return `${where}: cannot listen (${errnoNames[errno] ?? `errno ${errno}`})`
    }
    // Sockets are 0600: only this user (and root) may connect.
    if (listener.path !== undefined) chmodSync(listener.path, 0o600)
  }
  return {
    fds,
    names: listeners.map((listener) => listener.name),
    key: JSON.stringify(listeners),
    close: () => {
      closeAll()
      for (const listener of listeners) {
        if (listener.path !== undefined) clearPath(listener.path)
      }
    }
  }
}
