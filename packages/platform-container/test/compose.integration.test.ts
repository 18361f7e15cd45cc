// Compose files read by the real podman-compose (Debian's 1.0.3): its YAML loader (PyYAML, a YAML 1.1
// reader) and its own interpolation give back every string exactly, and `podman-compose up` runs the
// service so that the process sees exactly the configured argv, environment and working directory,
// locked down as the defaults say.
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { Integration } from "@duende/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as fc from "fast-check"
import { spawnSync } from "node:child_process"
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll } from "vitest"
import * as ComposeService from "../src/ComposeService.js"
import * as ContainerSection from "../src/ContainerSection.js"
import * as ContainerSpec from "../src/ContainerSpec.js"
import {
  capabilityCount,
  daemonConfig,
  duendeHealth,
  fixture,
  type Identity,
  repo,
  repoMount,
  tool
} from "./helpers/containers.js"
import { accepted, hostileValues, interpolateAll, mountPath } from "./helpers/hostile.js"
import { makePodman } from "./helpers/podman.js"

const podmanCompose = Integration.which("podman-compose")
// podman-compose's own interpreter, so its module (and the PyYAML it loads) can be imported.
const python = podmanCompose !== undefined ? readFileSync(podmanCompose, "utf8").split("\n")[0]!.replace(/^#!\s*/, "") : "python3"

const gate = Integration.check(
  Integration.tool("podman-compose"),
  Integration.tool("podman"),
  Integration.tool("runc"),
  Integration.root(),
  Integration.command(python, ["-c", "import yaml, podman_compose"], `${python} cannot import yaml and podman_compose (apt-get install podman-compose python3-yaml)`)
)

const podman = gate.ok ? makePodman("compose") : undefined
afterAll(() => podman?.cleanup())

const id = "0b6f4d1e-3a51-4c8e-9a7c-2f5d1e0b6f4d"

/** Variables set when podman-compose interpolates: a `$` that was not escaped would turn into this. */
const variables = { HOME: "SUBSTITUTED", X: "SUBSTITUTED", Y: "SUBSTITUTED", x: "SUBSTITUTED", n: "SUBSTITUTED", prog: "SUBSTITUTED" }

/** Compose files through podman-compose's loader: PyYAML's safe_load, then its rec_subs interpolation; as JSON. */
const loadWithPodmanCompose = (files: ReadonlyArray<string>): ReadonlyArray<unknown> => {
  const script = [
    "import json, sys, yaml, podman_compose",
    "env = json.loads(sys.argv[1])",
    "out = []",
    "for text in json.loads(sys.stdin.buffer.read().decode('utf-8')):",
    "    try:",
    "        out.append(podman_compose.rec_subs(yaml.safe_load(text), env))",
    "    except Exception as error:",
    "        out.append({'error': repr(error)})",
    "sys.stdout.write(json.dumps(out))"
  ].join("\n")
  const result = spawnSync(python, ["-c", script, JSON.stringify(variables)], {
    input: JSON.stringify(files),
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024
  })
  if (result.status !== 0) throw new Error(`${python}: ${result.stderr}`)
  return JSON.parse(result.stdout)
}

/**
 * podman-compose on a file, with the test's podman. Debian's podman-compose 1.0.3 adds "--net
 * <project>_default --network-alias <service>" even when the service sets network_mode, and podman refuses
 * "--network none" with another network: the podman it calls is a wrapper that drops that pair (and passes
 * the test's own storage). Everything else is podman-compose's doing.
 */
const composer = (file: string, project: string) => {
  const wrapper = join(podman!.base, "podman-for-compose.mjs")
  writeFileSync(wrapper, [
    `#!${process.execPath}`,
    `import { spawnSync } from "node:child_process"`,
    `const args = process.argv.slice(2)`,
    `const network = args.indexOf("--network")`,
    `if (network >= 0 && args[network + 1] === "none") {`,
    `  for (const flag of ["--net", "--network-alias"]) { const at = args.indexOf(flag); if (at >= 0) args.splice(at, 2) }`,
    `}`,
    `const result = spawnSync("podman", [...${JSON.stringify(podman!.args)}, ...args], { stdio: "inherit" })`,
    `process.exit(result.status ?? 1)`,
    ""
  ].join("\n"))
  chmodSync(wrapper, 0o755)
  return (...rest: Array<string>) =>
    tool("podman-compose", ["--podman-path", wrapper, "-p", project, "-f", file, ...rest], { ...podman!.env, ...variables })
}

const specOf = (config: Record<string, unknown>, section: ContainerSection.Input) =>
  Either.flatMap(
    ContainerSection.decode(section),
    (resolved) => ContainerSpec.make(decodeSync({ name: "fz", version: "1.0.0", health: { enabled: false }, restart: { policy: "never" }, ...config }), { id, section: resolved })
  )

describe.skipIf(!gate.ok)(`compose files in podman-compose${gate.label}`, () => {
  it("PyYAML and podman-compose's interpolation read back every string of fuzzed compose files exactly", () => {
    const inputs = fc.sample(
      fc.record({
        env: fc.dictionary(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,6}$/), accepted, { maxKeys: 4 }),
        program: accepted,
        args: fc.array(accepted, { maxLength: 4 }),
        workingDirectory: mountPath,
        health: fc.array(accepted, { minLength: 1, maxLength: 3 }),
        source: mountPath,
        target: mountPath
      }),
      { numRuns: 400, seed: 12 }
    )
    const specs = inputs.flatMap((input) => {
      let config: Record<string, unknown>
      try {
        config = {
          command: { program: input.program === "" ? "x" : input.program, args: input.args },
          env: Object.fromEntries(Object.entries(input.env).filter(([key]) => !key.startsWith("DUENDE_"))),
          workingDirectory: input.workingDirectory
        }
        decodeSync({ name: "fz", ...config })
      } catch {
        return [] // refused at decode, naming the field (renderers.test.ts checks the names)
      }
      const made = specOf({ ...config, health: { enabled: true } }, {
        image: "localhost/fz:1",
        healthCommand: input.health as [string, ...Array<string>],
        mounts: [{ source: input.source, target: input.target }]
      })
      // A "\r\n" in an env value is refused (podman's --env would change it).
      return Either.isRight(made) && Either.isRight(ComposeService.render(made.right)) ? [made.right] : []
    })
    expect(specs.length).toBeGreaterThan(200)
    const loaded = loadWithPodmanCompose(specs.map((s) => Either.getOrThrow(ComposeService.render(s))))
    specs.forEach((s, i) => {
      expect(loaded[i]).toEqual({ services: { [s.name]: interpolateAll(Either.getOrThrow(ComposeService.service(s))) } })
    })
  })

  it("podman-compose up runs it: the process sees exactly the configured argv, environment and cwd, and runs locked down", () => {
    const base = podman!.base
    const project = join(base, "project")
    mkdirSync(project)
    const file = join(project, "compose.yaml")
    const compose = composer(file, "duendefz")
    // The program, a working directory and a mount, all with "$", spaces and characters outside the BMP in their paths.
    const program = "/opt/$prog ${n} \u{1F680}/node"
    const workingDirectory = "/work $HOME \u{1F680}"
    const hostDirectory = join(base, "data $x ${Y} \u00e9\u{1F680}")
    mkdirSync(hostDirectory, { recursive: true })
    const marker = "read through a $HOME mount \u{1F680}\n"
    writeFileSync(join(hostDirectory, "marker"), marker)
    const args = [fixture("identity.mjs"), "$HOME", "${X:-d}", "$$", "\u{1F680}", "nel\u0085", "ls\u2028ps\u2029", `'"\\`, "%s %%", "", "-e", "--net"]
    const env = { ...hostileValues, IDENTITY_READ: "/in $HOME \u{1F680}/marker" }

    const spec = Either.getOrThrow(specOf({ command: { program, args }, env, workingDirectory }, {
      image: podman!.image,
      network: "none",
      mounts: [
        { source: "/usr", target: "/usr", readOnly: true },
        { source: repo, target: repo, readOnly: true },
        { source: process.execPath, target: program, readOnly: true },
        { type: "tmpfs", target: workingDirectory },
        { source: hostDirectory, target: "/in $HOME \u{1F680}", readOnly: true }
      ]
    }))
    writeFileSync(file, Either.getOrThrow(ComposeService.render(spec)))

    try {
      const up = compose("up", "-d")
      expect(up.code, up.stdout + up.stderr).toBe(0)
      const waited = podman!.run("wait", spec.name)
      expect(waited, up.stdout + up.stderr).toMatchObject({ code: 0, stdout: "0\n" })
      const logs = podman!.run("logs", spec.name)
      const line = logs.stdout.split("\n").find((l) => l.startsWith("identity:"))
      expect(line, logs.stdout + logs.stderr).toBeDefined()
      const identity: Identity = JSON.parse(line!.slice("identity:".length))

      // The exact bytes of argv and the environment.
      const cmdline = Buffer.from(identity.cmdline, "base64")
      expect(cmdline.equals(Buffer.from(`${[program, ...args].join("\0")}\0`, "utf8"))).toBe(true)
      const environ = Buffer.from(identity.environ, "base64").toString("utf8").split("\0")
      for (const [key, value] of Object.entries(env)) expect(JSON.stringify(environ.filter((e) => e.startsWith(`${key}=`)))).toEqual(JSON.stringify([`${key}=${value}`]))
      expect(Buffer.from(identity.environ, "base64").includes(Buffer.from(`BREAKS=${hostileValues.BREAKS}\0`, "utf8"))).toBe(true)
      expect(identity.cwd).toBe(workingDirectory)
      expect(identity.read).toBe(marker)

      // Secure defaults, as compose gave them to podman.
      expect([identity.uid, identity.gid]).toEqual([65534, 65534])
      for (const mask of Object.values(identity.capabilities)) expect(capabilityCount(mask)).toBe(0)
      expect(identity.noNewPrivileges).toBe(true)
      expect(identity.rootWritable).toBe("EROFS")
      expect(identity.tmpWritable).toBe(true)
      expect(identity.kernelPaths["/proc/keys"]).not.toBeNull()
    } finally {
      compose("down")
      podman!.run("network", "rm", "--force", "duendefz_default")
    }
  })

  it("a Duende daemon run by compose, with no state directory bound, writes its state in /tmp (the root is read-only, /run not its own) and `duende health` answers from it", () => {
    const project = join(podman!.base, "daemon-project")
    mkdirSync(project)
    const file = join(project, "compose.yaml")
    const compose = composer(file, "duendedaemon")
    const config = daemonConfig("composed")
    const section = Either.getOrThrow(ContainerSection.decode({
      image: podman!.image,
      network: "none",
      mounts: [{ source: "/usr", target: "/usr", readOnly: true }, repoMount],
      healthCommand: duendeHealth
    }))
    const spec = Either.getOrThrow(ContainerSpec.make(config, { id, section }))
    writeFileSync(file, Either.getOrThrow(ComposeService.render(spec)))
    try {
      const up = compose("up", "-d")
      expect(up.code, up.stdout + up.stderr).toBe(0)
      // `duende health` as the HEALTHCHECK runs it: in the container, as its user.
      const end = Date.now() + 60_000
      let health = podman!.run("exec", spec.name, ...duendeHealth)
      // Until it says healthy: while its first check is under way it answers "starting" (exit 0 too).
      while (!(health.code === 0 && /^healthy/.test(health.stdout)) && Date.now() < end) {
        spawnSync("sleep", ["0.5"])
        health = podman!.run("exec", spec.name, ...duendeHealth)
      }
      expect(health, podman!.run("logs", spec.name).stderr).toMatchObject({ code: 0, stdout: expect.stringMatching(/^healthy/) })
      expect(podman!.run("exec", spec.name, "/usr/bin/stat", "-c", "%u %a", "/tmp/duende/state.json").stdout).toBe("65534 644\n")
    } finally {
      compose("down")
      podman!.run("network", "rm", "--force", "duendedaemon_default")
    }
  })
})
