// Rendered units checked by systemd's own tools, offline: `systemd-analyze verify`
// (no errors, no unknown keys) and `systemd-analyze security --offline=yes` (exposure).
import { DaemonConfig } from "@duende/core"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { Integration } from "@duende/testing"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { execFileSync, spawnSync } from "node:child_process"
import fc from "fast-check"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as SystemdSection from "../src/SystemdSection.js"
import * as SystemdUnit from "../src/SystemdUnit.js"
import { envName, text } from "./helpers/arbitraries.js"
import { repositoryRoot } from "./helpers/nspawn.js"

const gate = Integration.check(Integration.tool("systemd-analyze", "apt-get install systemd"))

const fixture = join(__dirname, "fixtures", "http-daemon.mjs")
const work = mkdtempSync(join(tmpdir(), "duende-analyze-"))
const runtimeDir = join(work, "xdg")
mkdirSync(runtimeDir, { mode: 0o700 })
afterAll(() => rmSync(work, { recursive: true, force: true }))

const section = (input: SystemdSection.Input = {}) => Either.getOrThrow(SystemdSection.decode(input))
const example = (input: Partial<DaemonConfig.Input> = {}) =>
  decodeSync({ name: "http-daemon", command: ["node", fixture], env: { PORT: "8080" }, ...input })

let counter = 0
/** Writes the units (and those of the daemons it runs after) to a directory of their own; returns their paths. */
const write = (
  config: DaemonConfig.DaemonConfig,
  options: { readonly scope?: "system" | "user"; readonly version?: number; readonly systemd?: SystemdSection.SystemdSection } = {}
) => {
  const dir = join(work, String(counter++))
  mkdirSync(dir)
  const render = (c: DaemonConfig.DaemonConfig, systemd?: SystemdSection.SystemdSection) => {
    const artifacts = SystemdUnit.render(c, { scope: options.scope ?? "system", version: options.version ?? 252, ...(systemd ? { systemd } : {}) })
    if (Either.isLeft(artifacts)) throw new Error(artifacts.left.message)
    return artifacts.right.map((artifact) => {
      const path = join(dir, artifact.name)
      writeFileSync(path, artifact.content)
      return path
    })
  }
  return [...render(config, options.systemd), ...config.after.flatMap((name) => render(example({ name })))]
}

/** `systemd-analyze verify`: its exit code and every line it printed. */
const verify = (paths: ReadonlyArray<string>, scope: "system" | "user" = "system") => {
  const result = spawnSync("systemd-analyze", [...(scope === "user" ? ["--user"] : []), "verify", ...paths], {
    env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir, SYSTEMD_LOG_COLOR: "0" },
    encoding: "utf8"
  })
  return { code: result.status, lines: `${result.stdout}${result.stderr}`.split("\n").filter((l) => l.trim() !== "") }
}

const exposure = (path: string) => {
  const output = execFileSync("systemd-analyze", ["security", "--offline=yes", "--no-pager", path], { encoding: "utf8" })
  const match = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(output)
  if (match === null) throw new Error(`no exposure level in:\n${output}`)
  return Number(match[1])
}

describe.skipIf(!gate.ok)(`rendered units under systemd-analyze${gate.label}`, () => {
  const variants: ReadonlyArray<readonly [string, DaemonConfig.DaemonConfig, SystemdSection.SystemdSection]> = [
    ["the example daemon's default unit", example(), section()],
    [
      "every setting",
      example({
        description: "API with 100% uptime\nand a \"quoted\" name\\",
        env: { PORT: "8080", GREETING: "say \"hi\" at $HOME, 50% off\n\ttoday", EMPTY: "" },
        command: ["node", "--enable-source-maps", fixture, "--flag=$1", "%n"],
        after: ["http-daemon-db"],
        user: "www-data",
        group: "www-data",
        watchdogInterval: "10s",
        initTimeout: "90s",
        shutdownTimeout: "1500ms",
        restart: { policy: "always", backoff: { initial: "2s", max: "5m" }, crashLoop: { burst: 10, interval: "2m" } },
        resources: {
          memory: "512M",
          memorySwap: "64M",
          cpuQuota: 150,
          cpuWeight: 500,
          ioReadBandwidth: "20M",
          ioWriteBandwidth: "10M",
          pidsMax: 128,
          openFilesMax: 65536,
          lockMemory: true
        }
      }),
      section({
        unit: "acme-api",
        readWritePaths: ["/var/lib/acme api", "/srv/data"],
        capabilities: ["CAP_NET_BIND_SERVICE"],
        socket: { listen: ["80", "127.0.0.1:8443", "[::1]:9000", "/run/acme.sock"], name: "http" }
      })
    ],
    ["hardening turned off", example(), section({ hardening: false })],
    ["some hardening turned off, type exec", example({ command: ["/bin/sleep", "1000"] }), section({ type: "exec", hardening: { ProtectHome: false, SystemCallFilter: false, PrivateUsers: false } })],
    ["a datagram socket", example(), section({ socket: { listen: ["@duende-metrics"], kind: "datagram" } })],
    ["the config's listen as a .socket unit", example({ listen: [{ name: "http", path: "/run/http-daemon.sock" }] }), section()]
  ]

  for (const [title, config, systemd] of variants) {
    it(`systemd 252, system scope: ${title} passes verify with no warning`, () => {
      const result = verify(write(config, { systemd }))
      expect(result.lines).toEqual([])
      expect(result.code).toBe(0)
    })
    if (config.user === undefined) {
      it(`systemd 252, user scope: ${title} passes verify with no warning`, () => {
        const result = verify(write(config, { systemd, scope: "user" }), "user")
        expect(result.lines).toEqual([])
        expect(result.code).toBe(0)
      })
    }
  }

  it("instances: a template unit whose instances share the .socket, all wanted by one target, pass verify", () => {
    const paths = write(example({ instances: 3, listen: [{ name: "http", port: 8080 }], description: "100% up" }))
    expect(paths.map((path) => path.split("/").at(-1))).toEqual(["http-daemon@.service", "http-daemon.socket", "http-daemon.target"])
    // Verified as systemd loads them: the template as an instance of it (%i expanded).
    const instance = join(paths[0]!, "..", "http-daemon@1.service")
    writeFileSync(instance, readFileSync(paths[0]!))
    for (const scope of ["system", "user"] as const) {
      const result = verify([instance, paths[1]!, paths[2]!], scope)
      expect(result.lines).toEqual([])
      expect(result.code).toBe(0)
    }
    const template = readFileSync(paths[0]!, "utf8")
    expect(template).toMatch(/^Description=100%% up %i$/m)
    expect(template).toMatch(/^Environment=DUENDE_INSTANCE=%i$/m)
    expect(template).toMatch(/^Sockets=http-daemon\.socket$/m)
    expect(template).toMatch(/^PartOf=http-daemon\.target$/m)
    expect(template).not.toMatch(/^\[Install\]/m)
    expect(readFileSync(paths[1]!, "utf8")).toMatch(/^Service=http-daemon@0\.service$/m)
    const target = readFileSync(paths[2]!, "utf8")
    expect(target).toMatch(/^Wants=http-daemon@0\.service http-daemon@1\.service http-daemon@2\.service$/m)
    expect(target).toMatch(/^WantedBy=multi-user\.target$/m)
    // "max" cannot be written in a unit.
    const max = SystemdUnit.make(example({ instances: "max" }), { scope: "system", version: 252 })
    expect(Either.isLeft(max) && max.left.message).toMatch(/instances: "max" is one per CPU .* write a number/)
  })

  it("the systemd ≥ 254 rendering differs only by what 252 does not know (notify-reload, RestartSteps)", () => {
    const paths = write(example({ restart: { backoff: { initial: "1s", max: "1m" } } }), { version: 254 })
    const result = verify(paths)
    expect(result.code).toBe(0)
    expect(result.lines.map((l) => l.replace(/^.*?:\d+: /, ""))).toEqual([
      "Failed to parse service type, ignoring: notify-reload",
      "Unknown key 'RestartSteps' in section [Service], ignoring.",
      "Unknown key 'RestartMaxDelaySec' in section [Service], ignoring."
    ])
  })

  it("fuzzed configs pass verify with no warning", () => {
    const samples = fc.sample(
      fc.record({
        description: text(30),
        args: fc.array(text(12), { maxLength: 4 }),
        env: fc.dictionary(envName, text(16), { maxKeys: 4 }),
        dir: text(10).map((s) => s.replace(/[\0-\x1f\x7f\\/]/g, "").trim())
      }),
      { numRuns: 25, seed: 4242 }
    )
    for (const sample of samples) {
      const config = example({
        description: sample.description,
        command: { program: "node", args: [fixture, ...sample.args] },
        env: sample.env,
        workingDirectory: `/srv/${sample.dir}x`
      })
      const result = verify(write(config))
      expect({ sample, lines: result.lines }).toEqual({ sample, lines: [] })
      expect(result.code).toBe(0)
    }
  })

  it("the example daemon's default unit scores at most 2.0 (PM2's unit: 9.6)", async () => {
    const counter = await Effect.runPromise(DaemonConfig.load(join(repositoryRoot, "examples", "http-counter", "duende.json")))
    for (const [name, config] of [["examples/http-counter", counter], ["test/fixtures/http-daemon.mjs", example()]] as const) {
      const [service] = write(config)
      expect(verify([service!]).lines).toEqual([])
      const score = exposure(service!)
      process.stdout.write(`systemd-analyze security --offline=yes: the default unit of ${name} scores ${score}\n`)
      expect(score).toBeLessThanOrEqual(2.0)
    }
    // The same unit with hardening turned off is what an unhardened unit scores.
    const [open] = write(example(), { systemd: section({ hardening: false }) })
    expect(exposure(open!)).toBeGreaterThan(9)
  })
})
