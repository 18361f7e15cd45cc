/**
 * The TCP ports a process tree listens on, from /proc/net/tcp{,6} and the
 * sockets in /proc/<pid>/fd: so `duende run` can print a daemon's URLs.
 *
 * @internal
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs"

const listeningInodes = (): Map<string, { readonly address: string; readonly port: number }> => {
  const out = new Map<string, { address: string; port: number }>()
  for (const [file, v6] of [["/proc/net/tcp", false], ["/proc/net/tcp6", true]] as const) {
    let text: string
    try {
      text = readFileSync(file, "utf8")
    } catch {
      continue
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10 || f[3] !== "0A") continue // 0A = LISTEN
      const [hex, portHex] = f[1]!.split(":")
      const port = parseInt(portHex!, 16)
      const anyAddress = /^0+$/.test(hex!)
      const loopback = v6 ? hex === "00000000000000000000000001000000" : hex === "0100007F"
      const address = anyAddress ? (v6 ? "::" : "0.0.0.0") : loopback ? (v6 ? "::1" : "127.0.0.1") : hex!
      out.set(f[9]!, { address, port })
    }
  }
  return out
}

/** URLs a person can open for what the given pids listen on. */
export const listeningUrls = (pids: ReadonlyArray<number>): ReadonlyArray<string> => {
  const inodes = listeningInodes()
  const ports = new Set<number>()
  for (const pid of pids) {
    let fds: Array<string>
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
        const found = match ? inodes.get(match[1]!) : undefined
        if (found) ports.add(found.port)
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return [...ports].sort((a, b) => a - b).map((port) => `http://127.0.0.1:${port}`)
}
