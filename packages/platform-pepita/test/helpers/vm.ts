import { Integration } from "@duende/testing"
import { existsSync } from "node:fs"
import { join } from "node:path"
import * as Image from "../../src/Image.js"

/** Real VMs need QEMU, a kernel, a static busybox and the built agent. */
export const gate = Integration.check(
  Integration.tool("qemu-system-x86_64", "apt-get install qemu-system-x86"),
  Integration.tool("busybox", "apt-get install busybox-static"),
  () => (Image.defaultKernel() === undefined ? "no /boot/vmlinuz-*: apt-get install linux-image-cloud-amd64" : undefined),
  () => (existsSync(join(__dirname, "..", "..", "dist", "agent.mjs")) ? undefined : "dist/agent.mjs not built: run the package build")
)

/** One image cache for every test file (an image is built once per content). */
export const cacheDirectory = join(__dirname, "..", "..", ".duende-test", "cache")

export const app = join(__dirname, "..", "fixtures", "app")
