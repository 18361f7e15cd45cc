// A notify socket for tests, as systemd's manager side: an AF_UNIX datagram socket
// (path or abstract "@name") read through koffi, since Node core cannot.
import { randomBytes } from "node:crypto"
import { createRequire } from "node:module"
import { rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

type Native = (...args: Array<unknown>) => number
const koffi = createRequire(__filename)("koffi") as {
  load: (name: string | null) => { func: (signature: string) => Native }
  errno: () => number
}
const libc = koffi.load(null)
const socket = libc.func("int socket(int, int, int)")
const bind = libc.func("int bind(int fd, const void *addr, unsigned int len)")
const recv = libc.func("long recv(int fd, void *buf, unsigned long len, int flags)")
const close = libc.func("int close(int fd)")
const MSG_DONTWAIT = 0x40

export interface Receiver {
  /** The NOTIFY_SOCKET value. */
  readonly address: string
  /** Datagrams received so far (and those waiting), in order. */
  readonly drain: () => Array<string>
  /** Waits until a datagram matching `test` arrives. */
  readonly waitFor: (test: (datagram: string) => boolean, timeoutMs?: number) => Promise<string>
  readonly close: () => void
}

export const receiver = (kind: "path" | "abstract"): Receiver => {
  const id = randomBytes(6).toString("hex")
  const address = kind === "path" ? join(tmpdir(), `duende-notify-${id}.sock`) : `@duende-notify-${id}`
  const path = Buffer.from(kind === "path" ? address : `\0${address.slice(1)}`)
  const sockaddr = Buffer.alloc(2 + path.length + (kind === "path" ? 1 : 0))
  sockaddr.writeUInt16LE(1, 0)
  path.copy(sockaddr, 2)
  const fd = socket(1, 2, 0)
  if (fd < 0 || bind(fd, sockaddr, sockaddr.length) !== 0) throw new Error(`cannot bind ${address}: errno ${koffi.errno()}`)
  const seen: Array<string> = []
  const buffer = Buffer.alloc(65536)
  const pull = () => {
    for (;;) {
      const n = recv(fd, buffer, buffer.length, MSG_DONTWAIT)
      if (n < 0) return
      seen.push(buffer.subarray(0, n).toString("utf8"))
    }
  }
  return {
    address,
    drain: () => {
      pull()
      return seen.splice(0)
    },
    waitFor: async (test, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        pull()
        const index = seen.findIndex(test)
        if (index >= 0) return seen.splice(0, index + 1)[index]!
        if (Date.now() > deadline) throw new Error(`no matching datagram within ${timeoutMs}ms; got ${JSON.stringify(seen)}`)
        await new Promise((r) => setTimeout(r, 10))
      }
    },
    close: () => {
      close(fd)
      if (kind === "path") rmSync(address, { force: true })
    }
  }
}
