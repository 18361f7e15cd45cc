// A podman of its own for a test file: storage, run and tmp directories under a temporary base, the
// CONTAINERS_CONF of recipes/oci.md, an image imported from a rootfs that uses the host's /usr, and a
// cleanup that removes every container and image and unmounts what is left.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { tool } from "./containers.js"

export interface Podman {
  readonly base: string
  readonly args: ReadonlyArray<string>
  readonly env: NodeJS.ProcessEnv
  readonly image: string
  readonly run: (...args: Array<string>) => { code: number | null; stdout: string; stderr: string }
  readonly cleanup: () => void
}

export const makePodman = (label: string): Podman => {
  const base = mkdtempSync(join(tmpdir(), `duende-${label}-`))
  const conf = join(base, "containers.conf")
  writeFileSync(
    conf,
    [
      "[containers]",
      `default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]`,
      `init_path = "/usr/bin/tini-static"`,
      "[engine]",
      `runtime = "runc"`,
      `events_logger = "file"`,
      // Networks a test creates (podman-compose makes one per project) stay under the base, not in /etc/cni.
      "[network]",
      `network_config_dir = "${join(base, "networks")}"`,
      ""
    ].join("\n")
  )
  const args = ["--root", join(base, "storage"), "--runroot", join(base, "runroot"), "--tmpdir", join(base, "tmp")]
  const env = { ...process.env, CONTAINERS_CONF: conf }
  const run = (...rest: Array<string>) => tool("podman", [...args, ...rest], env)

  // The image: an empty root with the merged-/usr symlinks and what the loader and NSS read from /etc;
  // containers bind the host's /usr read-only, so the host's node runs in them.
  const rootfs = join(base, "rootfs")
  for (const dir of ["etc", "usr", "tmp", "run", "proc", "sys", "dev"]) mkdirSync(join(rootfs, dir), { recursive: true })
  // /tmp is 1777 in every image; runc gives a tmpfs the mode of the directory it covers.
  chmodSync(join(rootfs, "tmp"), 0o1777)
  for (const [name, target] of [["bin", "usr/bin"], ["sbin", "usr/sbin"], ["lib", "usr/lib"], ["lib64", "usr/lib64"]]) {
    symlinkSync(target!, join(rootfs, name!))
  }
  for (const file of ["ld.so.cache", "passwd", "group", "nsswitch.conf"]) copyFileSync(join("/etc", file), join(rootfs, "etc", file))
  const image = `localhost/duende-${label}:1`
  const tar = tool("tar", ["-C", rootfs, "-cf", join(base, "rootfs.tar"), "."])
  if (tar.code !== 0) throw new Error(`tar: ${tar.stderr}`)
  const imported = run("import", join(base, "rootfs.tar"), image)
  if (imported.code !== 0) throw new Error(`podman import: ${imported.stderr}`)

  const cleanup = () => {
    run("rm", "--all", "--force", "--time=0")
    run("rmi", "--all", "--force")
    // Anything still mounted under the base (overlay layers, shm) goes before the files.
    const mounts = readFileSync("/proc/self/mounts", "utf8").split("\n").map((line) => line.split(" ")[1])
      .filter((point): point is string => point !== undefined && point.startsWith(base)).reverse()
    for (const point of mounts) tool("umount", ["-l", point])
    rmSync(base, { recursive: true, force: true })
  }
  return { base, args, env, image, run, cleanup }
}
