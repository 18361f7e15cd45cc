// The container spec and its four renderings, with fuzzing: no input can add an option, a key or a document.
import type { DaemonConfig } from "@duende/core"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as fc from "fast-check"
import { parse as parseYaml } from "yaml"
import * as ComposeService from "../src/ComposeService.js"
import * as ContainerArtifacts from "../src/ContainerArtifacts.js"
import * as ContainerSection from "../src/ContainerSection.js"
import * as ContainerSpec from "../src/ContainerSpec.js"
import * as EngineSpec from "../src/EngineSpec.js"
import * as OciSpec from "../src/OciSpec.js"
import * as RunArgs from "../src/RunArgs.js"

const id = "0b6f4d1e-3a51-4c8e-9a7c-2f5d1e0b6f4d"

const config = (extra: Record<string, unknown> = {}): DaemonConfig.DaemonConfig =>
  decodeSync({ name: "api", version: "1.2.3", command: ["/usr/bin/node", "/srv/api/main.js", "--port", "8080"], ...extra })

const section = (input: ContainerSection.Input = {}) => Either.getOrThrow(ContainerSection.decode(input))

const spec = (extra: Record<string, unknown> = {}, input: ContainerSection.Input = {}, stateDirectory?: string) =>
  Either.getOrThrow(ContainerSpec.make(config(extra), {
    id,
    section: section(input),
    ...(stateDirectory !== undefined ? { stateDirectory } : {})
  }))

const full = {
  env: { GREETING: "hello world", QUOTE: "it's \"quoted\"\nand multi-line" },
  workingDirectory: "/srv/api",
  user: "nobody",
  group: "nogroup",
  resources: { memory: "256M", memorySwap: "64M", cpuQuota: 150, cpuWeight: 200, pidsMax: 64, openFilesMax: 4096 },
  health: { interval: "10s", timeout: "2s", retries: 3, startPeriod: "5s" },
  initTimeout: "20s",
  shutdownTimeout: "7s",
  restart: { policy: "on-failure", crashLoop: { burst: 4 } }
}

describe("ContainerSpec", () => {
  it("carries the daemon's real command, its env plus Duende's, limits, labels and an engine healthcheck", () => {
    const s = spec(full, { image: "localhost/api:1.2.3", init: true }, "/var/lib/duende/api/run")
    expect(s.name).toBe("duende-api")
    expect([s.program, ...s.args]).toEqual(["/usr/bin/node", "/srv/api/main.js", "--port", "8080"])
    expect(s.env).toEqual([
      ["GREETING", "hello world"],
      ["QUOTE", "it's \"quoted\"\nand multi-line"],
      ["DUENDE_PLATFORM", "container"],
      ["DUENDE_STATE_DIR", "/run/duende"]
    ])
    expect(s.mounts).toEqual([{ type: "bind", source: "/var/lib/duende/api/run", target: "/run/duende", readOnly: false }])
    expect(s.labels).toEqual({ "duende.daemon.id": id, "duende.daemon.name": "api", "duende.daemon.version": "1.2.3" })
    // One engine retry (the daemon counts its own); the start period covers init.
    expect(s.healthcheck).toEqual({
      command: ["duende", "health"],
      intervalMs: 10_000,
      timeoutMs: 5_000,
      retries: 1,
      startPeriodMs: 25_000
    })
    expect(s.restart).toEqual({ name: "on-failure", maxRetries: 4 })
    expect(s.stopTimeoutMs).toBe(7_000)
  })

  it("says what is wrong: a bad name, a relative working directory, swap without memory, the reserved mount", () => {
    const fail = (extra: Record<string, unknown>, input: ContainerSection.Input = {}, name?: string) =>
      Either.getLeft(ContainerSpec.make(config(extra), {
        id,
        section: section(input),
        stateDirectory: "/state/run",
        ...(name !== undefined ? { containerName: name } : {})
      }))
    expect(fail({}, {}, "-rm")).toMatchObject({ value: expect.stringContaining("container name") })
    expect(fail({ workingDirectory: "srv" })).toMatchObject({ value: expect.stringContaining("workingDirectory") })
    expect(fail({ resources: { memorySwap: "1G" } })).toMatchObject({ value: expect.stringContaining("memorySwap") })
    expect(fail({}, { mounts: [{ source: "/x", target: "/run/duende" }] })).toMatchObject({
      value: expect.stringContaining("reserved")
    })
    expect(spec({ resources: { ioReadBandwidth: "10M" }, watchdogInterval: "10s" }).ignored).toHaveLength(2)
  })

  it("the section names each bad field", () => {
    const error = Either.getLeft(ContainerSection.decode({
      image: "-v /:/host evil",
      mounts: [{ source: "/a,b", target: "/x" }, { type: "bind", target: "/y" }],
      network: "bridged",
      ports: [{ container: 70000 }],
      ready: "soon",
      extra: 1
    }))
    expect(error._tag).toBe("Some")
    const message = error._tag === "Some" ? error.value : ""
    expect(message).toContain("platform.container.image: expected an image reference")
    expect(message).toContain("platform.container.mounts[0].source")
    expect(message).toContain("a bind mount needs a source")
    expect(message).toContain(`platform.container.network: expected one of "none", "host", "bridge", got "bridged"`)
    expect(message).toContain("platform.container.ports[0].container: expected a port from 1 to 65535")
    expect(message).toContain(`platform.container.ready: expected one of "auto", "notify", "started", got "soon"`)
    expect(message).toContain("extra")
    expect(section().ready).toBe("auto")
    expect(Either.isRight(ContainerSection.decode({ image: "registry.example.com:5000/team/api:1.2.3@sha256:" + "a".repeat(64) })))
      .toBe(true)
    expect(Either.getOrThrow(ContainerSection.resolve({ init: true }, { image: "localhost/x:1", init: false })))
      .toMatchObject({ image: "localhost/x:1", init: true })
  })
})

describe("OciSpec", () => {
  it("renders a runtime spec runc reads: process, ids from /etc, rlimits, cgroup limits, namespaces, init", () => {
    const s = spec(full, { init: true, mounts: [{ source: "/srv/api", target: "/srv/api", readOnly: true }] }, "/state/api/run")
    const context = Either.getOrThrow(OciSpec.context(s, { initPath: "/usr/bin/tini-static" }))
    expect(context.uid).toBe(65534)
    expect(context.gid).toBe(65534)
    const oci = OciSpec.render(s, context) as any
    expect(oci.process.args).toEqual(["/run/duende-init", "--", "/usr/bin/node", "/srv/api/main.js", "--port", "8080"])
    expect(oci.process.env).toContain("QUOTE=it's \"quoted\"\nand multi-line")
    expect(oci.process.env).toContain("DUENDE_STATE_DIR=/run/duende")
    expect(oci.process.env[0]).toMatch(/^PATH=/)
    expect(oci.process.cwd).toBe("/srv/api")
    expect(oci.process.user).toEqual({ uid: 65534, gid: 65534 })
    expect(oci.process.rlimits).toEqual([{ type: "RLIMIT_NOFILE", hard: 4096, soft: 4096 }])
    expect(oci.process.terminal).toBe(false)
    expect(oci.linux.resources.memory).toEqual({ limit: 256 * 1024 ** 2, swap: 320 * 1024 ** 2 })
    expect(oci.linux.resources.cpu).toEqual({ shares: 2048, period: 100_000, quota: 150_000 })
    expect(oci.linux.resources.pids).toEqual({ limit: 64 })
    expect(oci.linux.namespaces.map((n: any) => n.type)).toEqual(["pid", "ipc", "uts", "mount", "network"])
    expect(oci.linux.cgroupsPath).toBe(`/duende-${id}`)
    expect(oci.annotations["duende.daemon.id"]).toBe(id)
    const destinations = oci.mounts.map((m: any) => m.destination)
    expect(destinations).toEqual(expect.arrayContaining(["/usr", "/etc", "/srv/api", "/run/duende", "/run/duende-init", "/run", "/tmp"]))
    expect(destinations.indexOf("/run")).toBeLessThan(destinations.indexOf("/run/duende"))
    expect(oci.mounts.find((m: any) => m.destination === "/srv/api").options).toContain("ro")
    expect(oci.mounts.find((m: any) => m.destination === "/run/duende").options).toContain("rw")
    expect(oci.root).toEqual({ path: "rootfs", readonly: true })
  })

  it("shares the host's network with network host; refuses what runc cannot do", () => {
    const host = OciSpec.render(spec({}, { network: "host" }), Either.getOrThrow(OciSpec.context(spec({}, { network: "host" })))) as any
    expect(host.linux.namespaces.map((n: any) => n.type)).not.toContain("network")
    expect(Either.getLeft(OciSpec.context(spec({}, { network: "bridge" })))).toMatchObject({ value: expect.stringContaining("bridge") })
    expect(Either.getLeft(OciSpec.context(spec({}, { ports: [{ container: 80 }] })))).toMatchObject({
      value: expect.stringContaining("ports")
    })
    expect(Either.getLeft(OciSpec.context(spec({ user: "no-such-user-here" })))).toMatchObject({
      value: expect.stringContaining("no-such-user-here")
    })
    expect(Either.getLeft(OciSpec.context(spec({}, { init: true })))).toMatchObject({ value: expect.stringContaining("init") })
  })
})

describe("RunArgs", () => {
  it("renders podman run arguments, every option as --flag=value, the daemon's command after the image", () => {
    const s = spec(full, { image: "localhost/api:1.2.3", init: true, network: "none", ports: [{ container: 8080, host: 18080, hostIp: "127.0.0.1" }] })
    const argv = Either.getOrThrow(RunArgs.render(s, { engine: "podman", verb: "run", initPath: "/usr/bin/tini-static" }))
    expect(argv).toEqual([
      "run",
      "--detach",
      "--name=duende-api",
      `--label=duende.daemon.id=${id}`,
      "--label=duende.daemon.name=api",
      "--label=duende.daemon.version=1.2.3",
      "--env=GREETING=hello world",
      "--env=QUOTE=it's \"quoted\"\nand multi-line",
      "--env=DUENDE_PLATFORM=container",
      "--workdir=/srv/api",
      "--user=nobody:nogroup",
      `--memory=${256 * 1024 ** 2}`,
      `--memory-swap=${320 * 1024 ** 2}`,
      "--cpus=1.5",
      "--cpu-shares=2048",
      "--pids-limit=64",
      "--ulimit=nofile=4096:4096",
      "--network=none",
      "--publish=127.0.0.1:18080:8080/tcp",
      "--init",
      "--init-path=/usr/bin/tini-static",
      "--restart=on-failure:4",
      "--stop-signal=SIGTERM",
      "--stop-timeout=7",
      `--health-cmd=["duende","health"]`,
      "--health-interval=10s",
      "--health-timeout=5s",
      "--health-retries=1",
      "--health-start-period=25s",
      `--entrypoint=["/usr/bin/node"]`,
      "localhost/api:1.2.3",
      "/srv/api/main.js",
      "--port",
      "8080"
    ])
  })

  it("docker: the entrypoint as a string and the shell form of the health command; no image, no command", () => {
    const argv = Either.getOrThrow(RunArgs.render(spec({}, { image: "api:1", healthCommand: ["/app/bin/duende", "health"] }), {
      engine: "docker",
      verb: "create"
    }))
    expect(argv[0]).toBe("create")
    expect(argv).not.toContain("--detach")
    expect(argv).toContain("--entrypoint=/usr/bin/node")
    expect(argv).toContain("--health-cmd=/app/bin/duende health")
    expect(Either.isLeft(RunArgs.render(spec(), { engine: "docker", verb: "run" }))).toBe(true)
    expect(Either.getOrThrow(RunArgs.render(spec({ health: { enabled: false } }, { image: "api:1" }), {
      engine: "podman",
      verb: "run"
    }))).toContain("--no-healthcheck")
    expect(RunArgs.toShell(["podman", "run", "--env=A=it's", "x y", "plain"])).toBe(`podman run '--env=A=it'\\''s' 'x y' plain`)
  })
})

describe("EngineSpec", () => {
  it("renders the create body: RestartPolicy, Memory, NanoCpus, PidsLimit, an exec-form Healthcheck, the labels", () => {
    const body = Either.getOrThrow(EngineSpec.render(spec(full, { image: "localhost/api:1.2.3", network: "none" }, "/s/run"))) as any
    expect(body.Image).toBe("localhost/api:1.2.3")
    expect(body.Entrypoint).toEqual(["/usr/bin/node"])
    expect(body.Cmd).toEqual(["/srv/api/main.js", "--port", "8080"])
    expect(body.Env).toContain("DUENDE_STATE_DIR=/run/duende")
    expect(body.User).toBe("nobody:nogroup")
    expect(body.Labels).toEqual({ "duende.daemon.id": id, "duende.daemon.name": "api", "duende.daemon.version": "1.2.3" })
    expect(body.StopTimeout).toBe(7)
    expect(body.Healthcheck).toEqual({
      Test: ["CMD", "duende", "health"],
      Interval: 10e9,
      Timeout: 5e9,
      Retries: 1,
      StartPeriod: 25e9
    })
    expect(body.HostConfig).toMatchObject({
      RestartPolicy: { Name: "on-failure", MaximumRetryCount: 4 },
      Memory: 256 * 1024 ** 2,
      MemorySwap: 320 * 1024 ** 2,
      NanoCpus: 1.5e9,
      CpuShares: 2048,
      PidsLimit: 64,
      Ulimits: [{ Name: "nofile", Soft: 4096, Hard: 4096 }],
      NetworkMode: "none",
      Init: false,
      Mounts: [{ Type: "bind", Source: "/s/run", Target: "/run/duende", ReadOnly: false }]
    })
    const never = Either.getOrThrow(EngineSpec.render(spec({ restart: { policy: "never" }, health: { enabled: false } }, { image: "a:1" }))) as any
    expect(never.HostConfig.RestartPolicy).toEqual({ Name: "no", MaximumRetryCount: 0 })
    expect(never.Healthcheck).toEqual({ Test: ["NONE"] })
  })
})

describe("ComposeService", () => {
  it("renders YAML that a YAML parser reads back as the intended service", () => {
    const s = spec(full, { image: "localhost/api:1.2.3", init: true, network: "host", mounts: [{ type: "tmpfs", target: "/cache" }] })
    const yaml = Either.getOrThrow(ComposeService.render(s))
    const parsed = parseYaml(yaml)
    expect(parsed).toEqual({ services: { "duende-api": Either.getOrThrow(ComposeService.service(s)) } })
    const service = parsed.services["duende-api"]
    expect(service).toMatchObject({
      image: "localhost/api:1.2.3",
      entrypoint: ["/usr/bin/node"],
      command: ["/srv/api/main.js", "--port", "8080"],
      environment: { QUOTE: "it's \"quoted\"\nand multi-line" },
      init: true,
      network_mode: "host",
      restart: "on-failure:4",
      stop_grace_period: "7s",
      healthcheck: { test: ["CMD", "duende", "health"], interval: "10s", retries: 1, start_period: "25s" },
      labels: { "duende.daemon.version": "1.2.3" },
      ulimits: { nofile: { soft: 4096, hard: 4096 } },
      volumes: [{ type: "tmpfs", target: "/cache", read_only: false }]
    })
    expect(parseYaml(Either.getOrThrow(ComposeService.render(spec({ restart: { policy: "never" } }, { image: "a:1" })))).services["duende-api"].restart)
      .toBe("no")
  })
})

describe("ContainerArtifacts (duende render)", () => {
  it("renders every format with a daemon id stable across runs", () => {
    const c = config({ platform: { container: { image: "localhost/api:1" } } })
    for (const format of ContainerArtifacts.formats) {
      const first = Either.getOrThrow(ContainerArtifacts.render(c, format))
      expect(first.content).toBe(Either.getOrThrow(ContainerArtifacts.render(c, format)).content)
      expect(first.content).toContain(ContainerArtifacts.stableId("api"))
    }
    expect(ContainerArtifacts.stableId("api")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(ContainerArtifacts.stableId("api")).not.toBe(ContainerArtifacts.stableId("web"))
    expect(Either.getLeft(ContainerArtifacts.render(config(), "compose"))).toMatchObject({ value: expect.stringContaining("image") })
  })
})

// ---- fuzzing -------------------------------------------------------------

const envName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/).filter((n) => n !== "DUENDE_PLATFORM" && n !== "DUENDE_STATE_DIR")
const anyText = fc.string({ unit: "binary", maxLength: 40 }).filter((s) => !s.includes("\u0000"))
const path = fc.array(fc.stringMatching(/^[^\u0000-\u001f\u007f,:/]{1,8}$/), { minLength: 1, maxLength: 3 }).map((p) => `/${p.join("/")}`)
  .filter((p) => p !== "/run/duende")

const fuzzed = fc.record({
  env: fc.dictionary(envName, anyText, { maxKeys: 5 }),
  program: anyText.filter((s) => s.length > 0),
  args: fc.array(anyText, { maxLength: 5 }),
  mounts: fc.array(fc.record({ source: path, target: path, readOnly: fc.boolean() }), { maxLength: 3 })
})

describe("fuzzing the renderers", () => {
  it("run args: each env pair is exactly one --env element, every value before the image is an option, the command follows the image unchanged", () => {
    fc.assert(fc.property(fuzzed, fc.constantFrom("podman" as const, "docker" as const), (input, engine) => {
      const s = Either.getOrThrow(ContainerSpec.make(
        decodeSync({ name: "fz", command: { program: input.program, args: input.args }, env: input.env }),
        { id, section: section({ image: "localhost/fz:1", mounts: input.mounts }) }
      ))
      const argv = Either.getOrThrow(RunArgs.render(s, { engine, verb: "run" }))
      const image = argv.length - input.args.length - 1
      expect(argv[image]).toBe("localhost/fz:1")
      expect(argv.slice(image + 1)).toEqual(input.args)
      expect(argv.slice(1, image).every((arg) => arg.startsWith("--"))).toBe(true)
      for (const [key, value] of Object.entries(input.env)) {
        expect(argv.filter((arg) => arg.startsWith(`--env=${key}=`))).toEqual([`--env=${key}=${value}`])
      }
      expect(argv.filter((arg) => arg.startsWith("--mount="))).toHaveLength(input.mounts.length)
    }), { numRuns: 300 })
  })

  it("compose: the YAML parses back to exactly the service, with one service and no extra keys", () => {
    fc.assert(fc.property(fuzzed, (input) => {
      const s = Either.getOrThrow(ContainerSpec.make(
        decodeSync({ name: "fz", command: { program: input.program, args: input.args }, env: input.env }),
        { id, section: section({ image: "localhost/fz:1", mounts: input.mounts }) }
      ))
      const parsed = parseYaml(Either.getOrThrow(ComposeService.render(s)))
      expect(Object.keys(parsed)).toEqual(["services"])
      expect(Object.keys(parsed.services)).toEqual(["duende-fz"])
      expect(parsed.services["duende-fz"]).toEqual(Either.getOrThrow(ComposeService.service(s)))
    }), { numRuns: 300 })
  })

  it("OCI and engine JSON: args and env arrive exactly as given", () => {
    fc.assert(fc.property(fuzzed, (input) => {
      const s = Either.getOrThrow(ContainerSpec.make(
        decodeSync({ name: "fz", command: { program: input.program, args: input.args }, env: input.env }),
        { id, section: section({ image: "localhost/fz:1", mounts: input.mounts }) }
      ))
      const oci = JSON.parse(JSON.stringify(OciSpec.render(s, Either.getOrThrow(OciSpec.context(s))))) as any
      expect(oci.process.args).toEqual([input.program, ...input.args])
      const body = JSON.parse(JSON.stringify(Either.getOrThrow(EngineSpec.render(s)))) as any
      expect([...body.Entrypoint, ...body.Cmd]).toEqual([input.program, ...input.args])
      for (const [key, value] of Object.entries(input.env)) {
        expect(oci.process.env).toContain(`${key}=${value}`)
        expect(body.Env).toContain(`${key}=${value}`)
      }
      expect(oci.mounts.filter((m: any) => m.type === "bind" && input.mounts.some((u) => u.target === m.destination)).length)
        .toBeGreaterThanOrEqual(input.mounts.length > 0 ? 1 : 0)
    }), { numRuns: 300 })
  })

  it("the section rejects every mount path that could break a mount option list", () => {
    fc.assert(fc.property(anyText, (text) => {
      const result = ContainerSection.decode({ mounts: [{ source: text, target: "/x" }] })
      if (Either.isRight(result)) expect(text).toMatch(/^\/[^\u0000-\u001f\u007f,:]*$/)
      else expect(text).not.toMatch(/^\/[^\u0000-\u001f\u007f,:]*$/)
    }), { numRuns: 500 })
  })
})
