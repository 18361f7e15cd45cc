// A real systemd as PID 1 in systemd-nspawn (see /work/shared/recipes/systemd-nspawn.md):
// the host's /usr and this repository are bound in, so the host's node runs the test
// daemons inside. One machine per test file, with a unique name, always torn down.
import { Integration } from "@duende/testing"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

export const repositoryRoot = resolve(fileURLToPath(new URL(".", import.meta.url)), "..", "..", "..", "..")

/** What booting a machine needs here, for the suites' `describe.skipIf(!gate.ok)`. */
export const gate = Integration.check(
  Integration.root(),
  Integration.tool("systemd-nspawn", "apt-get install systemd-container"),
  Integration.tool("nsenter", "apt-get install util-linux"),
  Integration.command("test", ["-w", "/sys/fs/cgroup/unified"], "the cgroup v2 hierarchy is not writable")
)

export interface Machine {
  readonly name: string
  /** The container's PID 1, as seen from the host. */
  readonly leader: number
  /** Runs a command inside the container (all namespaces). */
  readonly prefix: ReadonlyArray<string>
  /** The container's root directory, as seen from the host. */
  readonly root: string
  readonly exec: (argv: ReadonlyArray<string>, env?: Record<string, string>) => Promise<Result>
  readonly shutdown: () => Promise<void>
}

export interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const run = (argv: ReadonlyArray<string>, env?: Record<string, string>): Promise<Result> =>
  new Promise((done) => {
    execFile(
      argv[0]!,
      argv.slice(1),
      { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 },
      (error, stdout, stderr) => done({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr })
    )
  })

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const childrenOf = (pid: number): Array<number> => {
  const out: Array<number> = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
      if (ppid === pid) out.push(Number(entry))
    } catch {
      // gone
    }
  }
  return out
}

const command = (pid: number): string | undefined => {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim()
  } catch {
    return undefined
  }
}

const removeTree = (dir: string) => {
  let entries: Array<string>
  try {
    entries = readdirSync(dir)
  } catch {
    return
  }
  for (const entry of entries) {
    const path = join(dir, entry)
    try {
      if (statSync(path).isDirectory()) removeTree(path)
    } catch {
      // gone
    }
  }
  try {
    rmdirSync(dir)
  } catch {
    // still busy or gone
  }
}

/** Last resort when a process exits without shutting its machines down: ask them to power off. */
const live = new Set<ChildProcess>()
process.once("exit", () => {
  for (const nspawn of live) nspawn.kill("SIGTERM")
})

/** Boots a container with systemd as PID 1 and waits until it is running. */
export const boot = async (options: { readonly userManager?: boolean } = {}): Promise<Machine> => {
  const name = `duende-sd-${process.pid}-${randomBytes(3).toString("hex")}`
  const cgroup = `duende-nspawn-${name}`
  for (const hierarchy of ["systemd", "unified"]) mkdirSync(`/sys/fs/cgroup/${hierarchy}/${cgroup}`, { recursive: true })
  const script = [
    `for h in systemd unified; do echo $BASHPID > /sys/fs/cgroup/$h/${cgroup}/cgroup.procs; done`,
    `exec setsid systemd-nspawn -D / --volatile=yes --register=no --keep-unit -M ${name} --console=passive` +
    ` --bind=${repositoryRoot} --bind-ro=/etc/pam.d --bind-ro=/etc/ssl -b -- systemd.firstboot=off`
  ].join("\n")
  const nspawn: ChildProcess = spawn("bash", ["-c", script], { stdio: ["ignore", "pipe", "pipe"], detached: false })
  let log = ""
  nspawn.stdout!.on("data", (chunk: Buffer) => void (log = (log + chunk.toString()).slice(-8000)))
  nspawn.stderr!.on("data", (chunk: Buffer) => void (log = (log + chunk.toString()).slice(-8000)))
  const exited = new Promise<void>((done) => nspawn.once("exit", () => done()))

  let stopped = false
  const shutdown = async () => {
    if (stopped) return
    stopped = true
    live.delete(nspawn)
    if (nspawn.exitCode === null && nspawn.signalCode === null) {
      nspawn.kill("SIGTERM")
      const timedOut = await Promise.race([exited.then(() => false), sleep(15_000).then(() => true)])
      if (timedOut) {
        for (const pid of childrenOf(nspawn.pid!)) {
          try {
            process.kill(pid, "SIGKILL")
          } catch {
            // gone
          }
        }
        nspawn.kill("SIGKILL")
        await exited
      }
    }
    for (const hierarchy of ["systemd", "unified"]) removeTree(`/sys/fs/cgroup/${hierarchy}/${cgroup}`)
    removeTree(`/run/systemd/nspawn/propagate/${name}`)
  }
  live.add(nspawn)

  try {
    let leader: number | undefined
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      if (nspawn.exitCode !== null) throw new Error(`systemd-nspawn exited (${nspawn.exitCode}):\n${log}`)
      // The container's PID 1 is systemd; nspawn's short-lived helper children are not.
      leader = childrenOf(nspawn.pid!).find((pid) => command(pid) === "systemd")
      if (leader !== undefined) {
        const state = await run(["nsenter", "-t", String(leader), "-m", "-p", "systemctl", "is-system-running"])
        if (/^(running|degraded)/.test(state.stdout.trim())) break
      }
      await sleep(100)
    }
    if (leader === undefined || Date.now() >= deadline) throw new Error(`systemd did not come up in ${name}:\n${log}`)
    const prefix = ["nsenter", "-t", String(leader), "-a"]
    const root = `/proc/${leader}/root`
    const machine: Machine = {
      name,
      leader,
      prefix,
      root,
      exec: (argv, env) => run([...prefix, ...argv], env),
      shutdown
    }
    if (options.userManager) {
      // user@.service needs PAM, which the container lacks; without it, user@0 starts fine.
      const dropIn = join(root, "etc/systemd/system/user@.service.d")
      mkdirSync(dropIn, { recursive: true })
      writeFileSync(join(dropIn, "nopam.conf"), "[Service]\nPAMName=\nEnvironment=XDG_RUNTIME_DIR=/run/user/%U\n")
      await machine.exec(["systemctl", "daemon-reload"])
      const started = await machine.exec(["systemctl", "start", "user@0.service"])
      if (started.code !== 0) throw new Error(`user@0.service did not start: ${started.stderr}`)
    }
    return machine
  } catch (error) {
    await shutdown()
    throw error
  }
}
