import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Logger from "effect/Logger"
import * as fc from "fast-check"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ConfigError } from "../src/ConfigError.js"
import * as DaemonConfig from "../src/DaemonConfig.js"
import { decodeEither, decodeSync, encode, jsonSchema } from "../src/DaemonConfigSchema.js"

/** A config that sets every field. */
const full = {
  name: "api-server",
  version: "1.2.3-rc.1",
  description: "the API",
  command: ["node", "dist/server.js", "--port", "8080"],
  env: { PORT: "8080", NODE_ENV: "production" },
  envProfiles: { staging: { NODE_ENV: "staging" } },
  workingDirectory: "/srv/api",
  user: "api",
  group: "1000",
  resources: {
    memory: "512M",
    memorySwap: "1G",
    cpuQuota: 150,
    cpuWeight: 200,
    ioReadBandwidth: "10M",
    ioWriteBandwidth: 1048576,
    pidsMax: 64,
    openFilesMax: 4096,
    lockMemory: false
  },
  health: { enabled: true, interval: "10s", timeout: "2s", retries: 3, startPeriod: "30s" },
  restart: {
    policy: "always",
    backoff: { initial: "500ms", max: "1m", multiplier: 2, jitter: 0.1 },
    crashLoop: { burst: 5, interval: "2m" },
    minUptime: "10s",
    cron: "0 3 * * *"
  },
  initTimeout: "1m",
  shutdownTimeout: "15s",
  watchdogInterval: "20s",
  pidFile: "/run/api.pid",
  watch: { paths: ["dist"], ignore: ["*.map"], debounce: "2s" },
  platform: {
    native: { logs: { maxSize: "10M", keep: 3 } },
    systemd: {
      scope: "user",
      unit: "api",
      type: "notify",
      hardening: { ProtectHome: false },
      readWritePaths: ["/var/lib/api"],
      capabilities: ["CAP_NET_BIND_SERVICE"],
      socket: { listen: ["8080"], kind: "stream", name: "http" }
    },
    launchd: { label: "com.example.api", domain: "gui" },
    container: {
      image: "localhost/api:1",
      runtime: "runc",
      rootfs: "host",
      mounts: [{ type: "bind", source: "/srv/api", target: "/srv/api", readOnly: true }],
      network: "none",
      ports: [{ container: 8080, host: 8080, protocol: "tcp", hostIp: "127.0.0.1" }],
      init: true,
      ready: "notify",
      healthCommand: ["duende", "health"]
    },
    pepita: { kernel: "/boot/vmlinuz", rootfs: "/srv/rootfs", vcpus: 2, memory: "256M" },
    wos: { priority: 3 }
  }
} as const

const problemsOf = (input: unknown) => {
  const result = decodeEither(input, "test")
  if (Either.isRight(result)) throw new Error(`expected a failure for ${JSON.stringify(input)}`)
  return result.left.problems
}

describe("DaemonConfig decoding", () => {
  it("decodes a full config", () => {
    const config = decodeSync(full)
    expect(config.command).toEqual({ program: "node", args: ["dist/server.js", "--port", "8080"] })
    expect(Duration.toMillis(config.shutdownTimeout)).toBe(15_000)
    expect(config.resources.memory).toBe(512 * 1024 ** 2)
    expect(config.resources.ioWriteBandwidth).toBe(1048576)
    expect(config.platform.wos?.priority).toBe(3)
  })

  it("fills every default from name and command alone", () => {
    const config = decodeSync({ name: "x", command: { program: "/bin/x" } })
    expect(config.command.args).toEqual([])
    expect(config.version).toBe("0.0.0")
    expect(config.restart.policy).toBe("on-failure")
    expect(Duration.toMillis(config.restart.backoff.initial)).toBe(1_000)
    expect(config.restart.crashLoop.burst).toBe(5)
    expect(Duration.toMillis(config.health.interval)).toBe(30_000)
    expect(Duration.toMillis(config.shutdownTimeout)).toBe(30_000)
    expect(config.watchdogInterval).toBeUndefined()
    expect(config.env).toEqual({})
  })

  it("takes numbers and booleans in env as their text, and load says so for each", async () => {
    const config = decodeSync({ name: "api", command: ["api"], env: { PORT: 8080, DEBUG: true, RATIO: 0.5, NAME: "x" } })
    expect(config.env).toEqual({ PORT: "8080", DEBUG: "true", RATIO: "0.5", NAME: "x" })
    const dir = mkdtempSync(join(tmpdir(), "duende-env-text-"))
    const file = join(dir, "duende.json")
    writeFileSync(file, JSON.stringify({ name: "api", command: ["api"], env: { PORT: 8080, OFF: false } }))
    const logged: Array<string> = []
    const loaded = await Effect.runPromise(
      DaemonConfig.load(file).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logged.push(String(message))))))
    )
    expect(loaded.env).toEqual({ PORT: "8080", OFF: "false" })
    expect(logged).toEqual([
      `${file}: env.PORT: the number 8080 is taken as the string "8080" (environment values are text)`,
      `${file}: env.OFF: the boolean false is taken as the string "false" (environment values are text)`
    ])
    rmSync(dir, { recursive: true, force: true })
  })

  it("encodes back to the file form and decodes to the same config", () => {
    const config = decodeSync(full)
    const encoded = encode(config)
    expect(encoded.shutdownTimeout).toBe("15s")
    expect(decodeSync(JSON.parse(JSON.stringify(encoded)))).toEqual(config)
  })

  it("reports every bad field at once, by path, with what was expected", () => {
    const problems = problemsOf({
      name: "My_Daemon",
      command: [],
      env: { PORT: { number: 8080 }, "1BAD": "x" },
      restart: { polcy: "always", backoff: { multiplier: "two" } },
      resources: { memory: "512MB" },
      shutdownTimeout: "soon",
      extra: true
    })
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p.message]))
    expect(byPath["name"]).toMatch(/expected lowercase letters.*got "My_Daemon"/)
    expect(byPath["command[0]"]).toMatch(/at least 1 item/)
    expect(byPath["env.PORT"]).toMatch(/expected a string, got \{"number":8080\}/)
    expect(byPath['env["1BAD"]']).toMatch(/environment variable name/)
    expect(byPath["restart.polcy"]).toBe(`unknown field; did you mean "policy"?`)
    expect(byPath["restart.backoff.multiplier"]).toMatch(/expected a number from 1 to 100, got "two"/)
    expect(byPath["resources.memory"]).toMatch(/ambiguous: write 512M/)
    expect(byPath["shutdownTimeout"]).toMatch(/expected a duration such as "30s".*got "soon"/)
    expect(byPath["extra"]).toMatch(/unknown field/)
    expect(problems).toHaveLength(9)
  })

  it("listen: a port on loopback by default, or a unix socket path; bad entries named by index and field", () => {
    const config = decodeSync({ name: "web", command: ["x"], listen: [{ name: "http", port: 8080 }, { name: "ctl", path: "/run/web.sock" }] })
    expect(config.listen).toEqual([
      { name: "http", port: 8080, host: "127.0.0.1", backlog: 511 },
      { name: "ctl", path: "/run/web.sock", host: "127.0.0.1", backlog: 511 }
    ])
    const problems = problemsOf({
      name: "web",
      command: ["x"],
      listen: [{ name: "a:b", port: 80 }, { name: "both", port: 81, path: "/x" }, { name: "h", port: 82, host: "localhost" }, { name: "p", port: 70_000 }]
    })
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p.message]))
    expect(byPath["listen[0].name"]).toMatch(/expected a socket name of letters, digits/)
    expect(byPath["listen[1]"]).toMatch(/give either port \(a TCP socket\) or path \(a unix socket\)/)
    expect(byPath["listen[2].host"]).toMatch(/expected an IPv4 or IPv6 address/)
    expect(byPath["listen[3].port"]).toMatch(/expected a port from 1 to 65535/)
    expect(problemsOf({ name: "web", command: ["x"], listen: [{ name: "a", port: 1 }, { name: "a", port: 2 }] })[0]?.message)
      .toMatch(/listener names must differ/)
  })

  it("reload: a signal by default, or a rolling replacement; anything else named with the choices", () => {
    expect(decodeSync({ name: "web", command: ["x"] }).reload).toBe("signal")
    expect(decodeSync({ name: "web", command: ["x"], reload: "replace" }).reload).toBe("replace")
    const [problem] = problemsOf({ name: "web", command: ["x"], reload: "restart" })
    expect(problem?.path).toBe("reload")
    expect(problem?.message).toMatch(/signal.*replace/)
  })

  it("names a missing required field and what it should be", () => {
    const problems = problemsOf({ command: ["x"] })
    expect(problems).toEqual([{ path: "name", message: expect.stringMatching(/^is required: Lowercase letters/) }])
  })

  it("explains a command written as one string", () => {
    const [problem] = problemsOf({ name: "x", command: "node server.js" })
    expect(problem).toEqual({ path: "command", message: expect.stringContaining(`split it: ["node","server.js"]`) })
  })

  it("refuses input that is not an object", () => {
    for (const input of [null, 3, "x", [1], undefined]) {
      expect(problemsOf(input)).toEqual([{ path: "", message: expect.stringMatching(/^expected an object/) }])
    }
  })

  it("renders a message with no stack trace", () => {
    const error = new ConfigError({ source: "duende.json", problems: problemsOf({ name: "x" }) })
    expect(error.message).toBe(
      `Invalid daemon config (duende.json):\n  - command: is required: The command: ["node", "server.js"] or { "program": "node", "args": ["server.js"] }.`
    )
    expect(error.message).not.toMatch(/at .*\.ts:\d+/)
  })
})

// ---- property tests ---------------------------------------------------------

type Kind =
  | "name"
  | "version"
  | "text"
  | "envValue"
  | "nonEmpty"
  | "account"
  | "bytes"
  | "duration"
  | "positiveDuration"
  | "bool"
  | "int"
  | "number"
  | "enum"
  | "label"
  | "false"

/** Every leaf of `full` with the kind of value it takes and its bounds. */
const leaves: ReadonlyArray<{ path: ReadonlyArray<string>; kind: Kind; min?: number; max?: number; values?: ReadonlyArray<string> }> = [
  { path: ["name"], kind: "name" },
  { path: ["version"], kind: "version" },
  { path: ["description"], kind: "text" },
  { path: ["env", "PORT"], kind: "envValue" },
  { path: ["workingDirectory"], kind: "nonEmpty" },
  { path: ["user"], kind: "account" },
  { path: ["group"], kind: "account" },
  { path: ["resources", "memory"], kind: "bytes" },
  { path: ["resources", "memorySwap"], kind: "bytes" },
  { path: ["resources", "cpuQuota"], kind: "number", min: 1, max: 100_000 },
  { path: ["resources", "cpuWeight"], kind: "int", min: 1, max: 10_000 },
  { path: ["resources", "ioReadBandwidth"], kind: "bytes" },
  { path: ["resources", "ioWriteBandwidth"], kind: "bytes" },
  { path: ["resources", "pidsMax"], kind: "int", min: 1, max: 4_194_304 },
  { path: ["resources", "openFilesMax"], kind: "int", min: 1, max: 1_073_741_816 },
  { path: ["resources", "lockMemory"], kind: "bool" },
  { path: ["health", "enabled"], kind: "bool" },
  { path: ["health", "interval"], kind: "positiveDuration" },
  { path: ["health", "timeout"], kind: "positiveDuration" },
  { path: ["health", "retries"], kind: "int", min: 1, max: 1000 },
  { path: ["health", "startPeriod"], kind: "duration" },
  { path: ["restart", "policy"], kind: "enum", values: ["never", "on-failure", "always", "unless-stopped"] },
  { path: ["restart", "backoff", "initial"], kind: "duration" },
  { path: ["restart", "backoff", "max"], kind: "duration" },
  { path: ["restart", "backoff", "multiplier"], kind: "number", min: 1, max: 100 },
  { path: ["restart", "backoff", "jitter"], kind: "number", min: 0, max: 1 },
  { path: ["restart", "crashLoop", "burst"], kind: "int", min: 1, max: 10_000 },
  { path: ["restart", "crashLoop", "interval"], kind: "positiveDuration" },
  { path: ["restart", "minUptime"], kind: "duration" },
  { path: ["initTimeout"], kind: "positiveDuration" },
  { path: ["shutdownTimeout"], kind: "positiveDuration" },
  { path: ["watchdogInterval"], kind: "positiveDuration" },
  { path: ["pidFile"], kind: "nonEmpty" },
  { path: ["platform", "native", "logs", "maxSize"], kind: "bytes" },
  { path: ["platform", "native", "logs", "keep"], kind: "int", min: 0, max: 1000 },
  { path: ["platform", "systemd", "scope"], kind: "enum", values: ["system", "user"] },
  { path: ["platform", "systemd", "type"], kind: "enum", values: ["notify", "exec"] },
  { path: ["platform", "systemd", "hardening", "ProtectHome"], kind: "false" },
  { path: ["platform", "systemd", "socket", "kind"], kind: "enum", values: ["stream", "datagram", "sequential-packet"] },
  { path: ["platform", "launchd", "label"], kind: "label" },
  { path: ["platform", "launchd", "domain"], kind: "enum", values: ["gui", "system"] },
  { path: ["platform", "container", "image"], kind: "nonEmpty" },
  { path: ["platform", "container", "runtime"], kind: "enum", values: ["runc", "crun", "podman", "docker"] },
  { path: ["platform", "container", "network"], kind: "enum", values: ["none", "host", "bridge"] },
  { path: ["platform", "container", "init"], kind: "bool" },
  { path: ["platform", "container", "ready"], kind: "enum", values: ["auto", "notify", "started"] },
  { path: ["platform", "pepita", "kernel"], kind: "nonEmpty" },
  { path: ["platform", "pepita", "vcpus"], kind: "int", min: 1, max: 64 },
  { path: ["platform", "pepita", "memory"], kind: "bytes" },
  { path: ["platform", "wos", "priority"], kind: "int", min: 0, max: 7 }
]

const notString = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: false }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 2 }),
  fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 })
)
const notNumber = fc.oneof(
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(Number.NaN),
  fc.constant(Number.POSITIVE_INFINITY),
  fc.array(fc.integer(), { maxLength: 2 })
)

/** A value the field must refuse. */
const badValue = (leaf: (typeof leaves)[number]): fc.Arbitrary<unknown> => {
  switch (leaf.kind) {
    case "name":
      return fc.oneof(notString, fc.string().filter((s) => !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(s)))
    case "version":
      return fc.oneof(notString, fc.string().filter((s) => !/^\d+\.\d+\.\d+/.test(s)))
    case "text":
      return fc.oneof(notString, fc.string().map((s) => `${s}\u0000`))
    case "envValue":
      // Finite numbers and booleans are taken as text; NaN and the infinities are not numbers JSON has.
      return fc.oneof(
        fc.constant(null),
        fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY),
        fc.array(fc.string(), { maxLength: 2 }),
        fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }),
        fc.string().map((s) => `${s}\u0000`)
      )
    case "nonEmpty":
      return fc.oneof(notString, fc.constant(""))
    case "account":
      return fc.oneof(notString, fc.string().filter((s) => !/^(?:[a-z_][a-z0-9_-]{0,31}|\d{1,10})$/.test(s)))
    case "label":
      return fc.oneof(notString, fc.string().filter((s) => !/^[A-Za-z0-9][A-Za-z0-9.-]{0,254}$/.test(s)))
    case "bytes":
      return fc.oneof(
        fc.boolean(),
        fc.constant(null),
        fc.integer({ max: 0 }),
        fc.double({ min: 0.1, max: 0.9 }),
        fc.string().filter((s) => !/^\s*\d+(\.\d+)?\s*[a-zA-Z]*\s*$/.test(s)),
        fc.constantFrom("512MB", "1GB", "10 parsecs")
      )
    case "duration":
    case "positiveDuration":
      return fc.oneof(
        fc.boolean(),
        fc.constant(null),
        fc.integer({ max: leaf.kind === "duration" ? -1 : 0 }),
        fc.string().filter((s) => !/^\s*(\d+(\.\d+)?(ms|s|m|h|d))+\s*$/.test(s)),
        fc.array(fc.string(), { maxLength: 1 })
      )
    case "bool":
      return fc.oneof(fc.string(), fc.integer(), fc.constant(null))
    case "int":
      return fc.oneof(
        notNumber,
        fc.integer({ max: leaf.min! - 1 }),
        fc.integer({ min: leaf.max! + 1 }),
        fc.double({ min: leaf.min!, max: leaf.max!, noInteger: true, noNaN: true })
      )
    case "number":
      return fc.oneof(
        notNumber,
        // strictly outside [min, max]: -0 is not below 0
        fc.double({ max: leaf.min!, maxExcluded: true, noNaN: true }).filter((n) => n < leaf.min!),
        fc.double({ min: leaf.max!, minExcluded: true, noNaN: true }).filter((n) => n > leaf.max!)
      )
    case "enum":
      return fc.oneof(notString, fc.string().filter((s) => !leaf.values!.includes(s)))
    case "false":
      return fc.oneof(fc.constant(true), fc.string(), fc.integer(), fc.constant(null))
  }
}

const setAt = (target: Record<string, unknown>, path: ReadonlyArray<string>, value: unknown) => {
  let node = target
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>
  node[path[path.length - 1]!] = value
}

const pathText = (path: ReadonlyArray<string>) => path.join(".")

describe("DaemonConfig decoding, fuzzed", () => {
  it("names every field given a bad value, and only fails", () => {
    const mutation = fc.uniqueArray(fc.integer({ min: 0, max: leaves.length - 1 }), { minLength: 1, maxLength: 4 })
      .chain((indexes) =>
        fc.tuple(...indexes.map((i) => badValue(leaves[i]!).map((value) => ({ leaf: leaves[i]!, value }))))
      )
    fc.assert(
      fc.property(mutation, (changes) => {
        const input = structuredClone(full) as unknown as Record<string, unknown>
        for (const { leaf, value } of changes) setAt(input, leaf.path, value)
        const problems = problemsOf(input)
        const paths = problems.map((problem) => problem.path)
        for (const { leaf } of changes) expect(paths).toContain(pathText(leaf.path))
        for (const problem of problems) expect(problem.message).toMatch(/^(expected|unknown field|is required|is missing)/)
      }),
      { numRuns: 400 }
    )
  })

  it("names every unknown key with its path", () => {
    const objects = [[], ["resources"], ["health"], ["restart"], ["restart", "backoff"], ["restart", "crashLoop"], [
      "platform"
    ], ["platform", "pepita"], ["platform", "systemd"], ["platform", "container"]]
    fc.assert(
      fc.property(
        fc.constantFrom(...objects),
        fc.string({ minLength: 1 }).filter((k) => /^[a-zA-Z_]\w*$/.test(k) && !["__proto__", "constructor"].includes(k)),
        fc.jsonValue(),
        (at, key, value) => {
          const input = structuredClone(full) as unknown as Record<string, unknown>
          let node = input
          for (const part of at) node = node[part] as Record<string, unknown>
          fc.pre(!(key in node))
          // A "__proto__" key anywhere is refused before the schema runs (its own problem, tested apart).
          fc.pre(!JSON.stringify(value).includes('"__proto__"'))
          node[key] = value
          const problems = problemsOf(input)
          expect(problems).toContainEqual({
            path: [...at, key].join("."),
            message: expect.stringMatching(/^unknown field/)
          })
        }
      ),
      { numRuns: 200 }
    )
  })

  it("never throws on arbitrary input", () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withMap: true }), (input) => {
        const result = decodeEither(input)
        if (Either.isLeft(result)) {
          expect(result.left.problems.length).toBeGreaterThan(0)
          for (const problem of result.left.problems) expect(problem.message.length).toBeGreaterThan(0)
        }
      }),
      { numRuns: 500 }
    )
  })

  it("never throws on arbitrary JSON in any field of a valid config", () => {
    fc.assert(
      fc.property(fc.constantFrom(...leaves), fc.jsonValue(), (leaf, value) => {
        const input = structuredClone(full) as unknown as Record<string, unknown>
        setAt(input, leaf.path, value)
        const result = decodeEither(input)
        if (Either.isLeft(result)) {
          // The field, or a place inside the value put there (`name.__proto__` when the value holds such a key).
          const field = pathText(leaf.path)
          const paths = result.left.problems.map((p) => p.path)
          expect(paths.some((p) => p === field || p.startsWith(`${field}.`) || p.startsWith(`${field}[`)), paths.join(", "))
            .toBe(true)
        }
      }),
      // The counterexample CI found: a value holding a `__proto__` key.
      { numRuns: 500, examples: [[leaves[0]!, JSON.parse(`{"__proto__":{}}`)]] }
    )
  })
})

// ---- files ------------------------------------------------------------------

describe("DaemonConfig.load", () => {
  const dir = mkdtempSync(join(tmpdir(), "duende-config-"))

  it.effect("loads JSON and resolves the working directory against the file", () =>
    Effect.gen(function*() {
      const file = join(dir, "ok.json")
      writeFileSync(file, JSON.stringify({ name: "ok", command: ["node", "x.js"], workingDirectory: "app" }))
      const config = yield* DaemonConfig.load(file)
      expect(config.workingDirectory).toBe(join(dir, "app"))
      const bare = join(dir, "bare.json")
      writeFileSync(bare, JSON.stringify({ name: "ok", command: ["x"] }))
      expect((yield* DaemonConfig.load(bare)).workingDirectory).toBe(dir)
    }))

  it.effect("loads a TypeScript config written with defineConfig", () =>
    Effect.gen(function*() {
      const file = join(dir, "duende.config.ts")
      writeFileSync(
        file,
        `const port: number = 8080\nexport default { name: "typed", command: ["node", "server.js"], env: { PORT: String(port) } }\n`
      )
      const config = yield* DaemonConfig.load(file)
      expect(config.name).toBe("typed")
      expect(config.env).toEqual({ PORT: "8080" })
    }))

  it.effect("loads an ES module config", () =>
    Effect.gen(function*() {
      const file = join(dir, "duende.config.mjs")
      writeFileSync(file, `export default { name: "esm", command: ["node"] }\n`)
      expect((yield* DaemonConfig.load(file)).name).toBe("esm")
    }))

  it.effect("loads a CommonJS .js config in a package whose .js files are ES modules (PM2's ecosystem.config.js)", () =>
    Effect.gen(function*() {
      const pkg = mkdtempSync(join(dir, "esm-package-"))
      writeFileSync(join(pkg, "package.json"), JSON.stringify({ type: "module" }))
      const file = join(pkg, "duende.config.js")
      writeFileSync(file, `module.exports = { name: "cjs", command: ["node"], env: { PORT: 3000 } }\n`)
      const config = yield* DaemonConfig.load(file)
      expect(config.name).toBe("cjs")
      expect(config.env).toEqual({ PORT: "3000" })
      expect((yield* DaemonConfig.read(file)).input).toEqual({ name: "cjs", command: ["node"], env: { PORT: 3000 } })
    }))

  it.effect("loads a file of several daemons with loadAll, naming a bad one by its index; load refuses it", () =>
    Effect.gen(function*() {
      const file = join(dir, "several.json")
      writeFileSync(file, JSON.stringify([{ name: "web", command: ["web"] }, { name: "worker", command: ["worker"], workingDirectory: "w" }]))
      const configs = yield* DaemonConfig.loadAll(file)
      expect(configs.map((config) => [config.name, config.workingDirectory])).toEqual([["web", dir], ["worker", join(dir, "w")]])
      expect((yield* Effect.flip(DaemonConfig.load(file))).message).toMatch(/holds 2 daemons \(an array\); load it with loadAll/)
      writeFileSync(file, JSON.stringify([{ name: "web", command: ["web"] }, { name: "web", command: ["x"] }]))
      expect((yield* Effect.flip(DaemonConfig.loadAll(file))).message).toMatch(/two daemons are named "web"/)
      writeFileSync(file, JSON.stringify([{ name: "web", command: ["web"] }, { name: "Bad", command: ["x"] }]))
      expect((yield* Effect.flip(DaemonConfig.loadAll(file))).message).toMatch(/several\.json\[1\][\s\S]*name/)
      writeFileSync(file, "[]")
      expect((yield* Effect.flip(DaemonConfig.loadAll(file))).message).toMatch(/holds no daemon/)
    }))

  it.effect("sets an env profile over env with withProfile, and names the profiles there are when one is missing", () =>
    Effect.gen(function*() {
      const config = yield* DaemonConfig.decode({
        name: "api",
        command: ["api"],
        env: { NODE_ENV: "development", PORT: "3000" },
        envProfiles: { production: { NODE_ENV: "production", WORKERS: 4 }, staging: { NODE_ENV: "staging" } }
      })
      expect(Either.getOrThrow(DaemonConfig.withProfile(config, "production")).env).toEqual({
        NODE_ENV: "production",
        PORT: "3000",
        WORKERS: "4"
      })
      expect(DaemonConfig.withProfile(config, "prod")).toEqual(Either.left('api has no env profile "prod"; its profiles: production, staging'))
      expect(DaemonConfig.withProfile(config, "__proto__")._tag).toBe("Left")
      const plain = yield* DaemonConfig.decode({ name: "plain", command: ["x"] })
      expect(DaemonConfig.withProfile(plain, "production")).toEqual(
        Either.left('plain has no envProfiles, so there is no profile "production" (add envProfiles.production to its config)')
      )
    }))

  it.effect("says where JSON is broken", () =>
    Effect.gen(function*() {
      const file = join(dir, "broken.json")
      writeFileSync(file, `{\n  "name": "x",\n  "command": ["x"],,\n}`)
      const error = yield* Effect.flip(DaemonConfig.load(file))
      expect(error.message).toMatch(/not valid JSON at line 3, column 20/)
    }))

  it.effect("says when the file is missing or of an unknown type", () =>
    Effect.gen(function*() {
      expect((yield* Effect.flip(DaemonConfig.load(join(dir, "none.json")))).message).toMatch(/no such file/)
      expect((yield* Effect.flip(DaemonConfig.load(join(dir, "x.yaml")))).message).toMatch(/unsupported config file type ".yaml"/)
    }))

  it.effect("reports bad fields with the file name", () =>
    Effect.gen(function*() {
      const file = join(dir, "bad.json")
      writeFileSync(file, JSON.stringify({ name: "x", command: ["x"], health: { retries: 0 } }))
      const error = yield* Effect.flip(DaemonConfig.load(file))
      expect(error.message).toBe(
        `Invalid daemon config (${file}):\n  - health.retries: expected a whole number from 1 to 1000 (consecutive failures before unhealthy), got 0`
      )
    }))
})

describe("the JSON Schema for editors", () => {
  it("ships up to date (regenerate with `pnpm --filter @duende/core gen:schema`)", () => {
    const shipped = JSON.parse(readFileSync(new URL("../daemon-config.schema.json", import.meta.url), "utf8"))
    expect(shipped).toEqual(JSON.parse(JSON.stringify(jsonSchema())))
  })

  it("describes the fields and their forms", () => {
    const schema = jsonSchema() as unknown as { $defs: { DaemonConfig: { properties: Record<string, any>; required: Array<string> } } }
    const root = schema.$defs.DaemonConfig
    expect(root.required).toEqual(["name", "command"])
    expect(root.properties.name.pattern).toBe("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    expect(root.properties.shutdownTimeout.anyOf).toHaveLength(2)
    expect(root.properties.resources.properties.cpuWeight).toMatchObject({ type: "integer", minimum: 1, maximum: 10000 })
  })
})
