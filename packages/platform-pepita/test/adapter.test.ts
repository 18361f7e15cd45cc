import { decodeSync } from "@duende/core/DaemonConfigSchema"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import * as Module from "../src/adapter.js"
import * as Image from "../src/Image.js"
import * as QemuDriver from "../src/QemuDriver.js"

// The entry has core's platform module shape (a compile error otherwise).
const conforms: Module.Conformance = true

describe("the pepita platform module", () => {
  it("has the module shape", () => {
    expect(conforms).toBe(true)
    expect(Module.kind).toBe("pepita")
    expect(Module.formats).toEqual(["pepita"])
    expect(Module.flags.map((flag) => flag.name)).toEqual(["accel", "forward"])
  })

  it("reads its flags into options, under the tool's state directory", () => {
    const options = Module.options({ accel: "tcg", forward: "8080:80,9000:9000" }, { stateDirectory: "/tmp/d" })
    expect(options).toEqual(Either.right({
      stateDirectory: "/tmp/d/pepita/vms",
      cacheDirectory: "/tmp/d/pepita/images",
      forwards: [{ host: 8080, guest: 80 }, { host: 9000, guest: 9000 }],
      qemu: { accel: "tcg" }
    }))
    expect(Module.options({ forward: "8080" }, { stateDirectory: "/tmp/d" })).toEqual(
      Either.left(`--forward expects HOST:GUEST port pairs such as 8080:80, got "8080"`)
    )
    expect(Module.options({ forward: "8080:70000" }, { stateDirectory: "/tmp/d" })._tag).toBe("Left")
    expect(Module.options({ accel: "hvf" }, { stateDirectory: "/tmp/d" })._tag).toBe("Left")
  })

  it("renders the VM spec from the config: memory and vCPUs, the real command, env and cwd", async () => {
    const config = decodeSync({
      name: "api",
      command: ["node", "server.js", "--port", "80"],
      env: { MODE: "prod" },
      workingDirectory: "/srv/api",
      shutdownTimeout: "7s",
      platform: { pepita: { memory: "768M", vcpus: 2, kernel: "/boot/vmlinuz-test" } }
    })
    const [artifact] = await Effect.runPromise(Module.render(config, { format: "pepita", forwards: [{ host: 8080, guest: 80 }] }))
    expect(artifact).toMatchObject({ name: "api.pepita.json", kind: "pepita VM spec" })
    const spec = JSON.parse(artifact!.content)
    expect(spec.machine).toMatchObject({
      name: "api",
      kernel: "/boot/vmlinuz-test",
      memoryMiB: 768,
      vcpus: 2,
      cmdline: ["duende.vm=api", "duende.heartbeat=2000"],
      forwards: [{ host: 8080, guest: 80 }]
    })
    expect(spec.task).toEqual({
      program: "node",
      args: ["server.js", "--port", "80"],
      env: { MODE: "prod" },
      cwd: "/srv/api",
      shutdownTimeoutMs: 7000
    })
  })

  it("gives a VM room for its initramfs twice (packed and unpacked) and node", () => {
    expect(Image.minimumMemoryMiB({ bytes: 107_082_776 })).toBe(352)
    expect(Image.minimumMemoryMiB({ bytes: 1 })).toBe(160)
  })

  it("builds QEMU's argv as an array: -M pc, the agent's port, ports forwarded on 127.0.0.1 only", () => {
    const argv = QemuDriver.argv({
      name: "api",
      kernel: "/boot/k",
      initrd: "/c/i.cpio",
      memoryMiB: 256,
      vcpus: 1,
      cmdline: ["duende.vm=api"],
      directory: "/run/vm",
      forwards: [{ host: 8080, guest: 80 }]
    }, "tcg")
    expect(argv.slice(0, 4)).toEqual(["-M", "pc", "-accel", "tcg"])
    expect(argv).toContain("virtserialport,chardev=agent,name=org.duende.agent.0")
    expect(argv).toContain("socket,id=agent,path=/run/vm/agent.sock,server=on,wait=on")
    expect(argv).toContain("user,id=net0,hostfwd=tcp:127.0.0.1:8080-:80")
    expect(argv[argv.indexOf("-append") + 1]).toBe("console=ttyS0 quiet panic=-1 rootfstype=ramfs duende.net=1 duende.vm=api")
    const kvm = QemuDriver.argv({ name: "x", kernel: "k", initrd: "i", memoryMiB: 1, vcpus: 1, cmdline: [], directory: "/d", forwards: [] }, "kvm")
    expect(kvm.slice(0, 6)).toEqual(["-M", "pc", "-accel", "kvm", "-cpu", "host"])
    expect(kvm).not.toContain("-netdev")
  })
})
