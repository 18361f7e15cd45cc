/**
 * The TCP ports a process tree listens on, from /proc/net/tcp{,6} and the
 * sockets in /proc/<pid>/fd: so `duende run` can print a daemon's URLs, and
 * say who holds a port a daemon could not bind (EADDRINUSE).
 *
 * @internal
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs"

const socketInodes = (pid: number): ReadonlyArray<string> => {
  let fds: Array<string>
  try {
    fds = readdirSync(`/proc/${pid}/fd`)
  } catch {
    return []
  }
  return fds.flatMap((fd) => {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      return match ? [match[1]!] : []
    } catch {
      return [] // fd closed meanwhile
    }
  })
}

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
    for (const inode of socketInodes(pid)) {
      const found = inodes.get(inode)
      if (found) ports.add(found.port)
    }
  }
  return [...ports].sort((a, b) => a - b).map((port) => `http://127.0.0.1:${port}`)
}

/** A process that listens on a port. */
export interface PortHolder {
  readonly pid: number
  readonly command: string
  /** The daemon's name when a Duende native supervisor (`duende run` or the background one) started it. */
  readonly duendeDaemon: string | undefined
  /** Whether that supervisor is gone (the process was re-parented away from it): a leftover. */
  readonly orphaned: boolean
}

const readText = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return undefined
  }
}

const parentOf = (pid: number): number | undefined => {
  const stat = readText(`/proc/${pid}/stat`)
  return stat === undefined ? undefined : Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
}

/** The processes listening on `port` (on any address), as far as /proc lets this user see them. */
export const portHolders = (port: number): ReadonlyArray<PortHolder> => {
  const wanted = new Set([...listeningInodes()].filter(([, l]) => l.port === port).map(([inode]) => inode))
  if (wanted.size === 0) return []
  const holders: Array<PortHolder> = []
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue
    const pid = Number(name)
    if (pid === process.pid || !socketInodes(pid).some((inode) => wanted.has(inode))) continue
    const command = (readText(`/proc/${pid}/cmdline`) ?? "").split("\0").filter((a) => a !== "").join(" ")
    const environ = (readText(`/proc/${pid}/environ`) ?? "").split("\0")
    let duendeDaemon: string | undefined
    if (environ.includes("DUENDE_PLATFORM=native")) {
      const handoff = environ.find((e) => e.startsWith("DUENDE_DAEMON_CONFIG="))?.slice("DUENDE_DAEMON_CONFIG=".length)
      try {
        duendeDaemon = String((JSON.parse(handoff ?? "") as { config: { name: string } }).config.name)
      } catch {
        duendeDaemon = "?"
      }
    }
    const parent = parentOf(pid)
    const parentCommand = parent === undefined ? "" : readText(`/proc/${parent}/cmdline`) ?? ""
    holders.push({ pid, command, duendeDaemon, orphaned: duendeDaemon !== undefined && !/duende/.test(parentCommand) })
  }
  return holders
}

/** The port a daemon's error line says it could not bind (Node: `listen EADDRINUSE: address already in use 127.0.0.1:8080`). */
export const portInUse = (line: string): number | undefined => {
  const match = /EADDRINUSE\b.*?:(\d{1,5})\b/.exec(line)
  return match === null ? undefined : Number(match[1])
}

/** What to tell a person about who holds a port. */
export const describeHolders = (port: number, holders: ReadonlyArray<PortHolder>): string => {
  if (holders.length === 0) return `port ${port} is taken (by a process this user cannot see)`
  return `port ${port} is taken by ${
    holders.map((h) =>
      h.duendeDaemon === undefined
        ? `pid ${h.pid} (${h.command}), not a Duende daemon`
        : `pid ${h.pid}, Duende daemon "${h.duendeDaemon}"${
          h.orphaned ? " left running by an earlier run (nothing supervises it now)" : " of a running Duende supervisor"
        }`
    ).join("; ")
  }: stop it (\`kill ${holders.map((h) => h.pid).join(" ")}\`) or use another port`
}
