/**
 * The QEMU driver: `qemu-system-x86_64 -M pc`, argv built as an array (never
 * a shell), the agent's virtio-serial port on a unix socket in the machine's
 * 0700 directory, QMP on another for pause, resume and quit, the serial
 * console on the VMM's stdout. User networking forwards the daemon's ports to
 * 127.0.0.1 only.
 *
 * KVM is used only when a probe boot under KVM (a busybox initramfs that
 * prints a marker and powers off) reaches its `/init`, never because
 * `/dev/kvm` exists: on machines where the device opens but guests hang or
 * fail ("failed to set MSR"), QEMU runs under TCG. The answer is cached per
 * QEMU binary and kernel. `-M microvm` is not used: with Debian's cloud kernel
 * it hangs under TCG at TSC calibration.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, statSync } from "node:fs"
import { chmod, mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises"
import { connect } from "node:net"
import { join } from "node:path"
import * as Image from "./Image.js"
import * as Cpio from "./internal/cpio.js"
import { type Machine, type MachineExit, type MachineSpec, VmmDriver, VmmError } from "./VmmDriver.js"

/**
 * The driver's options.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The QEMU binary (default `qemu-system-x86_64` on PATH). */
  readonly binary?: string | undefined
  /** "auto" (default): KVM if the probe boot works, else TCG. */
  readonly accel?: "auto" | "kvm" | "tcg" | undefined
  /** Where the probe's answer and initramfs are kept (default: the image cache). */
  readonly cacheDirectory?: string | undefined
}

const vmm = "qemu"
const consoleTailLines = 500

const failed = (operation: string, reason: string) => new VmmError({ vmm, operation, reason })

/**
 * The QEMU command line for a machine (without the binary).
 *
 * @example
 * ```ts
 * import { QemuDriver } from "@duende/platform-pepita/adapter"
 *
 * QemuDriver.argv(spec, "tcg") // ["-M", "pc", "-accel", "tcg", "-m", "256", ...]
 * ```
 *
 * @since 0.1.0
 */
export const argv = (spec: MachineSpec, accel: "kvm" | "tcg", channels = true): ReadonlyArray<string> => [
  "-M",
  "pc",
  "-accel",
  accel,
  ...(accel === "kvm" ? ["-cpu", "host"] : []),
  "-m",
  String(spec.memoryMiB),
  "-smp",
  String(spec.vcpus),
  "-no-user-config",
  "-nodefaults",
  "-nographic",
  "-serial",
  "stdio",
  "-no-reboot",
  "-kernel",
  spec.kernel,
  "-initrd",
  spec.initrd,
  "-append",
  // rootfstype=ramfs: a tmpfs root would be capped at half the RAM, less than a 100 MB initramfs.
  ["console=ttyS0", "quiet", "panic=-1", "rootfstype=ramfs", ...(spec.forwards.length > 0 ? ["duende.net=1"] : []), ...spec.cmdline].join(" "),
  ...(channels
    ? [
      "-qmp",
      `unix:${join(spec.directory, "qmp.sock")},server=on,wait=off`,
      // wait=on: the guest does not start before the host is connected, so no frame is lost.
      "-chardev",
      `socket,id=agent,path=${join(spec.directory, "agent.sock")},server=on,wait=on`,
      "-device",
      "virtio-serial-pci",
      "-device",
      `virtserialport,chardev=agent,name=${Image.agentPort}`
    ]
    : []),
  ...(spec.forwards.length > 0
    ? [
      "-netdev",
      ["user", "id=net0", ...spec.forwards.map((f) => `hostfwd=tcp:127.0.0.1:${f.host}-:${f.guest}`)].join(","),
      "-device",
      "virtio-net-pci,netdev=net0"
    ]
    : [])
]

/** One QMP command on a fresh connection: greeting, capabilities, the command, its answer. */
const qmp = (socket: string, command: string): Effect.Effect<unknown, VmmError> =>
  Effect.async<unknown, VmmError>((resume) => {
    const connection = connect(socket)
    let buffer = ""
    let step = 0
    let done = false
    const finish = (effect: Effect.Effect<unknown, VmmError>) => {
      if (done) return
      done = true
      connection.destroy()
      resume(effect)
    }
    connection.on("error", (error) => finish(Effect.fail(failed(command, `QMP: ${error.message}`))))
    // quit closes the connection, sometimes before answering.
    connection.on("close", () => finish(command === "quit" ? Effect.void : Effect.fail(failed(command, "QMP closed"))))
    connection.on("data", (chunk) => {
      buffer += chunk.toString("utf8")
      let newline: number
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).trim()
        buffer = buffer.slice(newline + 1)
        if (line === "") continue
        const message = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc?: string }; event?: string }
        if (message.event !== undefined) continue
        if (message.error !== undefined) return finish(Effect.fail(failed(command, message.error.desc ?? "QMP error")))
        if (step === 0 && message.QMP !== undefined) {
          step = 1
          connection.write(JSON.stringify({ execute: "qmp_capabilities" }) + "\n")
        } else if (step === 1) {
          step = 2
          connection.write(JSON.stringify({ execute: command }) + "\n")
        } else if (step === 2) return finish(Effect.succeed(message.return))
      }
    })
    return Effect.sync(() => connection.destroy())
  }).pipe(
    Effect.timeoutFail({ duration: Duration.seconds(5), onTimeout: () => failed(command, "QMP did not answer in 5s") })
  )

interface Spawned {
  readonly pid: number
  readonly exited: Deferred.Deferred<MachineExit>
  readonly tail: Ref.Ref<Chunk.Chunk<string>>
  readonly kill: () => void
}

const start = (binary: string, args: ReadonlyArray<string>): Effect.Effect<Spawned, VmmError> =>
  Effect.gen(function*() {
    const exited = yield* Deferred.make<MachineExit>()
    const tail = yield* Ref.make(Chunk.empty<string>())
    const child = spawn(binary, [...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString("utf8")).slice(-8192)
    })
    let rest = ""
    const line = (text: string) => {
      Effect.runSync(Ref.update(tail, (lines) => Chunk.takeRight(Chunk.append(lines, text.replace(/\r$/, "")), consoleTailLines)))
    }
    child.stdout.on("data", (chunk: Buffer) => {
      rest += chunk.toString("utf8")
      let newline: number
      while ((newline = rest.indexOf("\n")) >= 0) {
        line(rest.slice(0, newline))
        rest = rest.slice(newline + 1)
      }
    })
    child.once("close", (code, signal) => {
      if (rest !== "") line(rest)
      Effect.runSync(Deferred.succeed(exited, { code, signal, stderr: stderr.trim() }))
    })
    const pid = yield* Effect.async<number, VmmError>((resume) => {
      child.once("spawn", () => resume(Effect.succeed(child.pid!)))
      child.once("error", (error) => resume(Effect.fail(failed("start", `${binary}: ${error.message}`))))
    })
    return { pid, exited, tail, kill: () => child.kill("SIGKILL") }
  })

/**
 * A probe boot: the kernel with a busybox initramfs whose `/init` prints a
 * marker and powers off, under `accel`. True when the marker came out on the
 * console within `timeout` — the guest really ran, which `/dev/kvm` existing
 * does not say.
 *
 * @example
 * ```ts
 * import { QemuDriver } from "@duende/platform-pepita/adapter"
 *
 * const kvmWorks = QemuDriver.probe("kvm", { kernel: "/boot/vmlinuz-6.1.0-57-cloud-amd64", directory: "/tmp/probe" })
 * // Effect<boolean>: false on machines where KVM guests hang or fail
 * ```
 *
 * @since 0.1.0
 */
export const probe = (
  accel: "kvm" | "tcg",
  options: {
    readonly kernel: string
    /** A scratch directory (created, then removed). */
    readonly directory: string
    readonly binary?: string | undefined
    /** Default 5s: a KVM guest reaches its /init in well under a second. */
    readonly timeout?: Duration.DurationInput | undefined
  }
): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const marker = "duende-probe-reached-init"
    const { directory, kernel } = options
    const initrd = join(directory, "probe.cpio")
    yield* Effect.promise(async () => {
      await mkdir(directory, { recursive: true, mode: 0o700 })
      const file = await open(initrd, "w")
      await Cpio.write(file, [
        { kind: "directory", path: "bin", mode: 0o755 },
        { kind: "directory", path: "dev", mode: 0o755 },
        { kind: "char", path: "dev/console", mode: 0o600, major: 5, minor: 1 },
        { kind: "file", path: "bin/busybox", mode: 0o755, data: () => readFile("/bin/busybox") },
        { kind: "symlink", path: "bin/sh", target: "busybox" },
        {
          kind: "file",
          path: "init",
          mode: 0o755,
          data: () => Promise.resolve(Buffer.from(`#!/bin/sh\necho ${marker}\n/bin/busybox poweroff -f\n`))
        }
      ])
      await file.close()
    })
    const spec: MachineSpec = { name: "probe", kernel, initrd, memoryMiB: 128, vcpus: 1, cmdline: [], directory, forwards: [] }
    // No agent port and no QMP: the probe only has to reach its /init.
    const works = yield* Effect.scoped(Effect.gen(function*() {
      const vm = yield* Effect.acquireRelease(start(options.binary ?? "qemu-system-x86_64", argv(spec, accel, false)), (vm) =>
        Effect.zipRight(Effect.sync(vm.kill), Deferred.await(vm.exited)))
      yield* Deferred.await(vm.exited).pipe(Effect.timeout(options.timeout ?? Duration.seconds(5)), Effect.ignore)
      return Chunk.some(yield* Ref.get(vm.tail), (line) => line.includes(marker))
    })).pipe(Effect.catchAll(() => Effect.succeed(false)))
    yield* Effect.promise(() => rm(directory, { recursive: true, force: true }))
    return works
  })

/** The probe's answer, cached per QEMU binary (path, size, mtime) and kernel. */
const accelFor = (binary: string, kernel: string, cacheDirectory: string): Effect.Effect<"kvm" | "tcg"> =>
  Effect.gen(function*() {
    if (!existsSync("/dev/kvm")) return "tcg" as const
    const identity = (path: string) => {
      try {
        const info = statSync(path)
        return `${path}:${info.size}:${info.mtimeMs}`
      } catch {
        return path
      }
    }
    const key = createHash("sha256").update(`${identity(binary)}\n${identity(kernel)}`).digest("hex").slice(0, 16)
    const file = join(cacheDirectory, `accel-${key}.json`)
    const cached = yield* Effect.promise(() =>
      readFile(file, "utf8").then((text) => (JSON.parse(text) as { accel?: string }).accel, () => undefined)
    )
    if (cached === "kvm" || cached === "tcg") return cached
    const works = yield* probe("kvm", { binary, kernel, directory: join(cacheDirectory, `probe-${process.pid}`) })
    const accel = works ? "kvm" as const : "tcg" as const
    yield* Effect.promise(async () => {
      const temporary = `${file}.${process.pid}.tmp`
      await writeFile(temporary, JSON.stringify({ accel }))
      await rename(temporary, file)
    })
    return accel
  })

/** The absolute path of a binary on PATH. */
const which = (name: string): string | undefined =>
  name.includes("/")
    ? name
    : (process.env.PATH ?? "").split(":").map((dir) => join(dir, name)).find((path) => existsSync(path))

/**
 * The QEMU driver.
 *
 * @example
 * ```ts
 * import { QemuDriver } from "@duende/platform-pepita/adapter"
 * import { Effect } from "effect"
 *
 * const machine = Effect.flatMap(QemuDriver.make({ accel: "tcg" }), (driver) => driver.boot(spec))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<VmmDriver, VmmError> =>
  Effect.gen(function*() {
    const binary = which(options.binary ?? "qemu-system-x86_64")
    if (binary === undefined) {
      return yield* failed("start", "qemu-system-x86_64 is not installed: apt-get install qemu-system-x86")
    }
    const cacheDirectory = options.cacheDirectory ?? Image.defaultCacheDirectory()
    const boot = (spec: MachineSpec): Effect.Effect<Machine, VmmError, Scope.Scope> =>
      Effect.gen(function*() {
        const accel = options.accel === "kvm" || options.accel === "tcg"
          ? options.accel
          : yield* accelFor(binary, spec.kernel, cacheDirectory)
        yield* Effect.acquireRelease(
          Effect.tryPromise({
            try: async () => {
              await mkdir(spec.directory, { recursive: true, mode: 0o700 })
              await chmod(spec.directory, 0o700)
            },
            catch: (error) => failed("start", `${spec.directory}: ${(error as Error).message}`)
          }),
          () => Effect.promise(() => rm(spec.directory, { recursive: true, force: true }))
        )
        const vm = yield* Effect.acquireRelease(
          start(binary, argv(spec, accel)),
          (vm) => Effect.zipRight(Effect.sync(vm.kill), Deferred.await(vm.exited))
        )
        const qmpSocket = join(spec.directory, "qmp.sock")
        const kill = Effect.zipRight(Effect.sync(vm.kill), Effect.asVoid(Deferred.await(vm.exited)))
        const machine: Machine = {
          name: spec.name,
          pid: vm.pid,
          accel,
          agentSocket: join(spec.directory, "agent.sock"),
          consoleTail: Effect.map(Ref.get(vm.tail), Chunk.toReadonlyArray),
          exited: Deferred.await(vm.exited),
          pause: Effect.asVoid(qmp(qmpSocket, "stop")),
          resume: Effect.asVoid(qmp(qmpSocket, "cont")),
          quit: qmp(qmpSocket, "quit").pipe(
            Effect.zipRight(Deferred.await(vm.exited).pipe(Effect.timeout(Duration.seconds(5)))),
            Effect.catchAll(() => kill),
            Effect.asVoid
          ),
          kill
        }
        return machine
      })
    return { name: vmm, boot }
  })

/**
 * The driver as a layer.
 *
 * @example
 * ```ts
 * import { PepitaAdapter, QemuDriver, VmmDriver } from "@duende/platform-pepita/adapter"
 * import { Effect } from "effect"
 *
 * const adapter = Effect.flatMap(VmmDriver.VmmDriver, (driver) => PepitaAdapter.make({ driver })).pipe(
 *   Effect.provide(QemuDriver.layer({ accel: "tcg" }))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<VmmDriver, VmmError> => Layer.effect(VmmDriver, make(options))
