/**
 * The VM image: the host's kernel and an initramfs built from the host's own
 * files — busybox (static), the node binary and the shared libraries `ldd`
 * lists for it, the kernel's virtio modules, the guest agent
 * (`dist/agent.mjs`) and the app's files — as a plain `newc` cpio. Nothing is
 * downloaded. Built once per content: the name of the cached image is the
 * sha256 of every input (paths, modes, contents; a file of 1 MiB or more by
 * its own digest, remembered while its path, size, mtime and inode stay the
 * same), so it is rebuilt when an input changes, and written atomically (temporary file, fsync, rename); the
 * cache keeps the few most recently used images.
 *
 * Inside, `/init` mounts proc, sysfs and devtmpfs (no tmpfs on /tmp: the root
 * is a ramfs already, and a mount there would hide app files under /tmp), loads the
 * modules, brings up the network when asked (`duende.net=1`) and hands PID 1
 * to busybox `init`, which reaps every orphan and respawns the agent on the
 * virtio-serial port named `org.duende.agent.0` (linked as
 * `/dev/virtio-ports/org.duende.agent.0`, the marker core's platform
 * detection looks for).
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, readdirSync, realpathSync } from "node:fs"
import { lstat, mkdir, open, readdir, readFile, readlink, rename, rm, stat, utimes, writeFile } from "node:fs/promises"
import { homedir } from "node:os"
import { basename, dirname, join, posix, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as Cpio from "./internal/cpio.js"

/**
 * The image could not be built: a missing kernel, module, tool or file.
 *
 * @since 0.1.0
 */
export class ImageError extends Data.TaggedError("ImageError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `VM image: ${this.path}: ${this.reason}`
  }
}

/**
 * Host files to put into the guest: a file or a whole directory at `from`,
 * found in the guest at `to`.
 *
 * @since 0.1.0
 */
export interface Files {
  readonly from: string
  readonly to: string
}

/**
 * What goes into an image.
 *
 * @since 0.1.0
 */
export interface Spec {
  /** The kernel (default: the newest `/boot/vmlinuz-*`); its modules come from `/lib/modules/<release>`. */
  readonly kernel?: string | undefined
  /** The app: files and directories copied in (e.g. `{ from: "./dist", to: "/app" }`). */
  readonly files?: ReadonlyArray<Files> | undefined
  /** The bundled guest agent (default: this package's `dist/agent.mjs`). */
  readonly agent?: string | undefined
  /** The node binary for the guest (default: the host's, `process.execPath`). */
  readonly node?: string | undefined
}

/**
 * A built image.
 *
 * @since 0.1.0
 */
export interface Image {
  readonly kernel: string
  /** The kernel's release ("6.1.0-57-cloud-amd64"). */
  readonly release: string
  readonly initrd: string
  /** The sha256 of the inputs: the initramfs's name in the cache. */
  readonly hash: string
  readonly bytes: number
  /** false when the cache already had it. */
  readonly built: boolean
}

/**
 * The name of the agent's virtio-serial port (in the guest:
 * the `name` file of its `/sys/class/virtio-ports` entry, linked as `/dev/virtio-ports/<name>`).
 *
 * @example
 * ```ts
 * import { Image } from "@duende/platform-pepita/adapter"
 *
 * Image.agentPort // "org.duende.agent.0"
 * ```
 *
 * @since 0.1.0
 */
export const agentPort = "org.duende.agent.0"

/**
 * The modules loaded at boot, in order (virtio-serial, then the network's).
 *
 * @since 0.1.0
 */
export const modules: ReadonlyArray<string> = [
  "virtio_ring",
  "virtio",
  "virtio_pci_modern_dev",
  "virtio_pci_legacy_dev",
  "virtio_pci",
  "virtio_mmio",
  "virtio_console",
  "failover",
  "net_failover",
  "virtio_net"
]

const networkModules = new Set(["failover", "net_failover", "virtio_net"])

const init = `#!/bin/sh
# Duende pepita guest: mount, load the virtio modules, then PID 1 is busybox init.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
net=0
grep -q 'duende.net=1' /proc/cmdline && net=1
for module in ${modules.join(" ")}; do
  case "$module" in ${[...networkModules].join("|")}) [ "$net" = 1 ] || continue ;; esac
  insmod /modules/$module.ko || echo "init: insmod $module failed"
done
ip link set lo up
if [ "$net" = 1 ]; then
  ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
fi
exec /bin/init
`

const inittab = `::respawn:/etc/agent
::ctrlaltdel:/bin/poweroff -f
`

const agentScript = `#!/bin/sh
# Finds the virtio-serial port named ${agentPort} and runs the agent on it.
for attempt in $(seq 1 100); do
  for port in /sys/class/virtio-ports/*; do
    if [ "$(cat "$port/name" 2>/dev/null)" = "${agentPort}" ]; then
      mkdir -p /dev/virtio-ports
      ln -sf "../$(basename "$port")" /dev/virtio-ports/${agentPort}
      exec /usr/bin/node /agent.mjs "/dev/$(basename "$port")"
    fi
  done
  usleep 50000
done
echo "agent: no virtio-serial port named ${agentPort}"
sleep 5
`

const fail = (path: string, reason: string) => new ImageError({ path, reason })

const run = (file: string, args: ReadonlyArray<string>): Effect.Effect<Buffer, ImageError> =>
  Effect.async((resume) => {
    execFile(file, [...args], { encoding: "buffer", maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) resume(Effect.fail(fail(file, `${args.join(" ")}: ${String(stderr).trim() || error.message}`)))
      else resume(Effect.succeed(stdout))
    })
  })

const releaseOf = (kernel: string): string => basename(kernel).replace(/^vmlinuz-/, "")

/**
 * The newest kernel in /boot whose modules are installed (`/lib/modules/<release>`), if there is one.
 *
 * @example
 * ```ts
 * import { Image } from "@duende/platform-pepita/adapter"
 *
 * Image.defaultKernel() // "/boot/vmlinuz-6.1.0-57-cloud-amd64"
 * ```
 *
 * @since 0.1.0
 */
export const defaultKernel = (): string | undefined => {
  const found = existsSync("/boot") ? readdirSync("/boot").filter((name) => /^vmlinuz-\d/.test(name)) : []
  // Only a kernel whose modules are installed: the virtio drivers come from there.
  const usable = found.filter((name) => existsSync(join("/lib/modules", releaseOf(name))))
  const newest = usable.sort((a, b) => a.localeCompare(b, "en", { numeric: true })).at(-1)
  return newest === undefined ? undefined : join("/boot", newest)
}

/** The bundled agent next to this module: dist/agent.mjs, from src/ (tests) as from dist/. */
const defaultAgent = (): string =>
  typeof __dirname === "string"
    ? join(__dirname, "..", "dist", "agent.mjs")
    : fileURLToPath(new URL("../dist/agent.mjs", import.meta.url))

/** The modules' files under the kernel's module tree, decompressed when the kernel ships .ko.xz or .ko.zst. */
const moduleFiles = (
  release: string
): Effect.Effect<ReadonlyArray<{ readonly name: string; readonly data: () => Promise<Uint8Array> }>, ImageError> =>
  Effect.gen(function*() {
    const root = join("/lib/modules", release, "kernel")
    const all = yield* Effect.tryPromise({
      try: () => readdir(root, { recursive: true }),
      catch: (error) => fail(root, `kernel modules not readable: ${(error as Error).message}`)
    })
    return yield* Effect.forEach(modules, (name) => {
      const wanted = [`${name}.ko`, `${name}.ko.xz`, `${name}.ko.zst`]
      const found = all.find((path) => wanted.includes(basename(path)))
      if (found === undefined) return Effect.fail(fail(root, `no module ${name} (.ko, .ko.xz, .ko.zst)`))
      const path = join(root, found)
      const tool = path.endsWith(".xz") ? "xz" : "zstd"
      return Effect.succeed({
        name,
        ...(path.endsWith(".ko")
          ? { data: () => readFile(path), source: path }
          : { data: () => Effect.runPromise(run(tool, ["-dc", path])) })
      })
    })
  })

/** The shared libraries `ldd` lists for a binary, with the paths the loader looks them up by. */
const sharedLibraries = (binary: string): Effect.Effect<ReadonlyArray<string>, ImageError> =>
  Effect.map(run("ldd", [binary]), (out) =>
    out.toString("utf8").split("\n").flatMap((line) => {
      const match = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line)
      return match === null ? [] : [match[1]!]
    }))

/** Every file under a host path, as guest entries under `to` (directories first). */
const hostEntries = (from: string, to: string): Effect.Effect<ReadonlyArray<Cpio.Entry>, ImageError> =>
  Effect.tryPromise({
    try: async () => {
      const out: Array<Cpio.Entry> = []
      const walk = async (host: string, guest: string) => {
        const info = await lstat(host)
        if (info.isSymbolicLink()) out.push({ kind: "symlink", path: guest, target: await readlink(host) })
        else if (info.isDirectory()) {
          out.push({ kind: "directory", path: guest, mode: info.mode & 0o7777 })
          for (const name of (await readdir(host)).sort()) await walk(join(host, name), posix.join(guest, name))
        } else if (info.isFile()) out.push({ kind: "file", path: guest, mode: info.mode & 0o7777, data: () => readFile(host), source: host })
      }
      await walk(resolve(from), to)
      return out
    },
    catch: (error) => fail(from, (error as Error).message)
  })

const text = (content: string) => () => Promise.resolve(Buffer.from(content, "utf8"))

/** The directories leading to `path` that `entries` has not made yet. */
const parents = (path: string, made: Set<string>): ReadonlyArray<Cpio.Entry> => {
  const out: Array<Cpio.Entry> = []
  for (let dir = posix.dirname(path); dir !== "/" && dir !== "."; dir = posix.dirname(dir)) {
    if (made.has(dir)) break
    made.add(dir)
    out.unshift({ kind: "directory", path: dir, mode: 0o755 })
  }
  return out
}

/** Everything that goes into the initramfs, in cpio order (every directory before what it holds). */
const manifest = (spec: Spec, release: string): Effect.Effect<ReadonlyArray<Cpio.Entry>, ImageError> =>
  Effect.gen(function*() {
    const node = realpathSync(spec.node ?? process.execPath)
    const agent = spec.agent ?? defaultAgent()
    if (!existsSync(agent)) return yield* fail(agent, "the guest agent is not built: run this package's build")
    const busybox = "/bin/busybox"
    if (!existsSync(busybox)) return yield* fail(busybox, "no static busybox: apt-get install busybox-static")
    const applets = (yield* run(busybox, ["--list"])).toString("utf8").split("\n").filter((name) => /^[\w.[-]+$/.test(name))
    const libraries = yield* sharedLibraries(node)
    const kernelModules = yield* moduleFiles(release)
    const app = yield* Effect.forEach(spec.files ?? [], (files) => hostEntries(files.from, files.to))

    const entries: Array<Cpio.Entry> = []
    const made = new Set<string>()
    const add = (entry: Cpio.Entry) => {
      entries.push(...parents(entry.path, made))
      if (entry.kind === "directory") {
        if (made.has(entry.path)) return
        made.add(entry.path)
      }
      entries.push(entry)
    }
    for (const dir of ["/bin", "/dev", "/proc", "/sys", "/tmp", "/root", "/etc", "/modules", "/usr/bin"]) {
      add({ kind: "directory", path: dir, mode: dir === "/tmp" ? 0o1777 : 0o755 })
    }
    add({ kind: "char", path: "/dev/console", mode: 0o600, major: 5, minor: 1 })
    add({ kind: "char", path: "/dev/null", mode: 0o666, major: 1, minor: 3 })
    add({ kind: "file", path: "/bin/busybox", mode: 0o755, data: () => readFile(busybox), source: busybox })
    for (const applet of applets) if (applet !== "busybox") add({ kind: "symlink", path: `/bin/${applet}`, target: "busybox" })
    add({ kind: "file", path: "/init", mode: 0o755, data: text(init) })
    add({ kind: "file", path: "/etc/inittab", mode: 0o644, data: text(inittab) })
    add({ kind: "file", path: "/etc/agent", mode: 0o755, data: text(agentScript) })
    add({ kind: "file", path: "/usr/bin/node", mode: 0o755, data: () => readFile(node), source: node })
    for (const library of libraries) add({ kind: "file", path: library, mode: 0o755, data: () => readFile(library), source: library })
    for (const { data, name } of kernelModules) add({ kind: "file", path: `/modules/${name}.ko`, mode: 0o644, data })
    add({ kind: "file", path: "/agent.mjs", mode: 0o644, data: () => readFile(agent), source: agent })
    for (const entry of app.flat()) add(entry)
    return entries
  })

/** Files this large have their digest remembered by (path, size, mtime, inode), as build tools do. */
const rememberedBytes = 1024 * 1024

/**
 * The sha256 of every entry: kind, path, mode, target or content (a large
 * host file's content by its own sha256, read again only when its path, size,
 * mtime or inode changed; kept in `digests.json` in the cache).
 */
const hashOf = (entries: ReadonlyArray<Cpio.Entry>, cacheDirectory: string): Effect.Effect<string, ImageError> =>
  Effect.tryPromise({
    try: async () => {
      const memoFile = join(cacheDirectory, "digests.json")
      const memo: Record<string, string> = await readFile(memoFile, "utf8").then(
        (text) => JSON.parse(text) as Record<string, string>,
        () => ({})
      )
      const used: Record<string, string> = {}
      const hash = createHash("sha256").update("duende-pepita-initramfs-2\n")
      for (const entry of entries) {
        hash.update(`${entry.kind} ${entry.path}\n`)
        if (entry.kind === "symlink") hash.update(`${entry.target}\n`)
        else hash.update(`${entry.mode}\n`)
        if (entry.kind === "char") hash.update(`${entry.major}:${entry.minor}\n`)
        if (entry.kind !== "file") continue
        const info = entry.source === undefined ? undefined : await stat(entry.source)
        const key = info === undefined || info.size < rememberedBytes
          ? undefined
          : `${entry.source}:${info.size}:${info.mtimeMs}:${info.ino}`
        let digest = key === undefined ? undefined : memo[key]
        if (digest === undefined) digest = createHash("sha256").update(await entry.data()).digest("hex")
        if (key !== undefined) used[key] = digest
        hash.update(`${digest}\n`)
      }
      // Only what this image used: entries of replaced files do not pile up.
      if (Object.keys(used).some((key) => memo[key] !== used[key]) || Object.keys(memo).length !== Object.keys(used).length) {
        await mkdir(cacheDirectory, { recursive: true, mode: 0o700 })
        const temporary = `${memoFile}.${process.pid}.tmp`
        await writeFile(temporary, JSON.stringify(used))
        await rename(temporary, memoFile)
      }
      return hash.digest("hex")
    },
    catch: (error) => fail("initramfs", `hashing the inputs: ${(error as Error).message}`)
  })

/**
 * The least memory a VM needs for an image: the kernel keeps the initramfs in
 * memory while it unpacks it into the root ramfs (so twice its size), and
 * node needs room to run; rounded up to 32 MiB. About 352 MiB for a 102 MiB
 * initramfs.
 *
 * @example
 * ```ts
 * import { Image } from "@duende/platform-pepita/adapter"
 *
 * Image.minimumMemoryMiB({ bytes: 107_082_776 }) // 352
 * ```
 *
 * @since 0.1.0
 */
export const minimumMemoryMiB = (image: Pick<Image, "bytes">): number =>
  Math.ceil((2 * Math.ceil(image.bytes / (1024 * 1024)) + 128) / 32) * 32

/**
 * The default cache directory: `$XDG_CACHE_HOME/duende/pepita`, else `~/.cache/duende/pepita`.
 *
 * @example
 * ```ts
 * import { Image } from "@duende/platform-pepita/adapter"
 *
 * Image.defaultCacheDirectory() // "/home/me/.cache/duende/pepita"
 * ```
 *
 * @since 0.1.0
 */
export const defaultCacheDirectory = (): string =>
  join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "duende", "pepita")

/**
 * Builds the image for a spec, or finds it in the cache.
 *
 * @example
 * ```ts
 * import { Image } from "@duende/platform-pepita/adapter"
 * import { Effect } from "effect"
 *
 * const image = Image.build({ files: [{ from: "./dist", to: "/app" }] }, { cacheDirectory: "/tmp/pepita-cache" })
 * // Effect<Image, ImageError>: { kernel, initrd: "/tmp/pepita-cache/<sha256>.cpio", built: true, ... }
 * ```
 *
 * @since 0.1.0
 */
export const build = (
  spec: Spec,
  options: {
    readonly cacheDirectory?: string | undefined
    /** How many images the cache keeps, the most recently used (default 4). */
    readonly keep?: number | undefined
  } = {}
): Effect.Effect<Image, ImageError> =>
  Effect.gen(function*() {
    const kernel = spec.kernel ?? defaultKernel()
    if (kernel === undefined) {
      return yield* fail("/boot", "no kernel (vmlinuz-*): apt-get install linux-image-cloud-amd64")
    }
    if (!existsSync(kernel)) return yield* fail(kernel, "no such kernel")
    const release = releaseOf(kernel)
    const entries = yield* manifest(spec, release)
    const cacheDirectory = options.cacheDirectory ?? defaultCacheDirectory()
    const hash = yield* hashOf(entries, cacheDirectory)
    const initrd = join(cacheDirectory, `${hash}.cpio`)
    const cached = yield* Effect.promise(() => stat(initrd).then((info) => info.size, () => undefined))
    if (cached !== undefined) {
      // Used now: the last to be pruned.
      yield* Effect.promise(() => utimes(initrd, new Date(), new Date()).catch(() => undefined))
      return { kernel, release, initrd, hash, bytes: cached, built: false }
    }
    const bytes = yield* Effect.tryPromise({
      try: async () => {
        await mkdir(cacheDirectory, { recursive: true, mode: 0o700 })
        const temporary = join(dirname(initrd), `.${hash}.${process.pid}.tmp`)
        const file = await open(temporary, "w", 0o644)
        try {
          const written = await Cpio.write(file, entries)
          await file.sync()
          await file.close()
          await rename(temporary, initrd)
          return written
        } catch (error) {
          await file.close().catch(() => undefined)
          await rm(temporary, { force: true })
          throw error
        }
      },
      catch: (error) => fail(initrd, `writing the initramfs: ${(error as Error).message}`)
    })
    yield* prune(cacheDirectory, options.keep ?? 4)
    return { kernel, release, initrd, hash, bytes, built: true }
  })

/** Removes all but the `keep` most recently used images (a running VM has read its initramfs already). */
const prune = (cacheDirectory: string, keep: number): Effect.Effect<void> =>
  Effect.promise(async () => {
    const images = await Promise.all(
      (await readdir(cacheDirectory)).filter((name) => /^[0-9a-f]{64}\.cpio$/.test(name)).map(async (name) => {
        const path = join(cacheDirectory, name)
        return { path, used: await stat(path).then((info) => info.mtimeMs, () => 0) }
      })
    )
    const stale = images.sort((a, b) => b.used - a.used).slice(keep)
    await Promise.all(stale.map(({ path }) => rm(path, { force: true })))
  })
