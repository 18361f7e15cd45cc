// The initramfs as GNU cpio (a real, independent reader) lists it: what the
// guest needs is there, device nodes included, and nothing is compressed.
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import { createReadStream, existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import * as Image from "../src/Image.js"
import * as QemuDriver from "../src/QemuDriver.js"
import { app, cacheDirectory, gate } from "./helpers/vm.js"

describe.skipIf(!gate.ok)(`the VM image${gate.label}`, () => {
  it("holds busybox, node and its libraries, the virtio modules, the agent, the app and /dev/console", async () => {
    const image = await Effect.runPromise(Image.build({ files: [{ from: app, to: "/app" }] }, { cacheDirectory }))
    const listing = execFileSync("cpio", ["-itv", "--quiet", "-F", image.initrd], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })
    const names = listing.split("\n").map((line) => line.split(/\s+/).at(-1) ?? "")
    const libraries = execFileSync("ldd", [process.execPath], { encoding: "utf8" })
      .split("\n").flatMap((line) => /=>\s*\/(\S+)/.exec(line)?.[1] ?? [])
    for (const name of ["init", "bin/busybox", "etc/inittab", "usr/bin/node", "agent.mjs", "app/daemon.mjs", ...libraries]) {
      expect(names).toContain(name)
    }
    for (const module of Image.modules) expect(names).toContain(`modules/${module}.ko`)
    expect(listing).toMatch(/^crw-------\s.*\s5,\s+1\s.*dev\/console$/m)
    expect(listing).toMatch(/^lrwxrwxrwx\s.*bin\/sh -> busybox$/m)
    // A plain newc archive (magic 070701), not gzip.
    const head = await new Promise<string>((resolve) =>
      createReadStream(image.initrd, { start: 0, end: 5 }).on("data", (chunk) => resolve(chunk.toString())))
    expect(head).toBe("070701")
  })

  it("keeps only the most recently used images", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pepita-prune-"))
    try {
      const cache = join(dir, "cache")
      writeFileSync(join(dir, "one.txt"), "1")
      // A small binary for node keeps these images small: only the pruning is under test.
      const small = { node: "/bin/true" }
      const first = await Effect.runPromise(Image.build({ ...small, files: [{ from: join(dir, "one.txt"), to: "/app/one.txt" }] }, { cacheDirectory: cache, keep: 1 }))
      const second = await Effect.runPromise(Image.build({ ...small, files: [{ from: app, to: "/app" }] }, { cacheDirectory: cache, keep: 1 }))
      expect(readdirSync(cache).filter((name) => name.endsWith(".cpio"))).toEqual([`${second.hash}.cpio`])
      expect(existsSync(first.initrd)).toBe(false)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("sees a large input change even at the same size (its remembered digest is keyed by mtime and inode)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pepita-digest-"))
    try {
      const cache = join(dir, "cache")
      const big = join(dir, "big.bin")
      writeFileSync(big, Buffer.alloc(2 * 1024 * 1024, 1))
      const spec = { node: "/bin/true", files: [{ from: big, to: "/app/big.bin" }] }
      const first = await Effect.runPromise(Image.build(spec, { cacheDirectory: cache }))
      expect(await Effect.runPromise(Image.build(spec, { cacheDirectory: cache }))).toMatchObject({ built: false, hash: first.hash })
      writeFileSync(big, Buffer.alloc(2 * 1024 * 1024, 2))
      utimesSync(big, new Date(), new Date(Date.now() + 5000))
      const second = await Effect.runPromise(Image.build(spec, { cacheDirectory: cache }))
      expect(second.built).toBe(true)
      expect(second.hash).not.toBe(first.hash)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("decides acceleration by a probe boot that must reach /init: TCG does; KVM without /dev/kvm does not", async () => {
    const kernel = Image.defaultKernel()!
    const directory = mkdtempSync(join(tmpdir(), "pepita-probe-"))
    expect(await Effect.runPromise(QemuDriver.probe("tcg", { kernel, directory, timeout: "60 seconds" }))).toBe(true)
    expect(existsSync(directory)).toBe(false)
    if (!existsSync("/dev/kvm")) {
      expect(await Effect.runPromise(QemuDriver.probe("kvm", { kernel, directory }))).toBe(false)
    }
  }, 90_000)
})
