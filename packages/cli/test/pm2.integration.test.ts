// Coming from PM2: ecosystem files (CommonJS in an ES module package, ESM) mapped key by key, with a
// report of every key; `duende import` writing duende configs that load; `duende start` of an
// ecosystem file with an env profile and instances; and scripts and command lines started as
// daemons (`duende start app.mjs -- a b` runs `node app.mjs a b`), all under a real supervisor.
import { DaemonConfig } from "@duende/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import * as Ecosystem from "../src/internal/ecosystem.js"
import { runner } from "./helpers/cli.js"

const fixtures = join(__dirname, "fixtures", "pm2")
const home = mkdtempSync(join(tmpdir(), "duende-pm2-"))
// A copy of the fixtures: the daemons' pid files and working directories are there, not in the repository.
const apps = mkdtempSync(join(tmpdir(), "duende-pm2-apps-"))
cpSync(fixtures, apps, { recursive: true })
const env = { DUENDE_HOME: home, DUENDE_METRICS_PORT: "off" }
const duende = runner(env, 60_000)
const duendeIn = (cwd: string) => runner(env, 60_000, cwd)

afterAll(async () => {
  await duende("shutdown")
  rmSync(home, { recursive: true, force: true })
  rmSync(apps, { recursive: true, force: true })
}, 60_000)

const read = (path: string) => Effect.runPromise(DaemonConfig.read(path))

/** The first of the daemon's log lines (from `duende logs --json`) that matches, waiting up to 30 s for one. */
const logLine = async (name: string, pattern: RegExp): Promise<string> => {
  const deadline = Date.now() + 30_000
  let seen = ""
  while (Date.now() < deadline) {
    const result = await duende("logs", name, "--lines", "50", "--json")
    seen = result.stdout + result.stderr
    const found = result.stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line).text as string)
      .find((line) => pattern.test(line))
    if (found !== undefined) return found
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`no line of ${name} matched ${pattern}; the last answer: ${seen}`)
}

describe("PM2 ecosystem files", () => {
  it("maps every key of every app or reports why not, and each app decodes as a Duende config", async () => {
    const file = join(apps, "esm-package", "ecosystem.config.js")
    const { directory, input } = await read(file)
    expect(Ecosystem.isEcosystem(input)).toBe(true)
    const mapped = Either.getOrThrow(Ecosystem.fromEcosystem(input, directory, "node"))
    const given = (input as { apps: Array<Record<string, unknown>> }).apps
    for (const app of mapped) {
      // Every key given is in the report.
      expect(new Set(app.keys.map((key) => key.key))).toEqual(new Set([...Object.keys(given[app.index]!), "autorestart"]))
      for (const key of app.keys) if (key.to === undefined) expect(key.note).not.toBe("")
      await Effect.runPromise(DaemonConfig.decode(app.input, app.name))
    }
    const [api, worker] = mapped
    expect(api!.name).toBe("api-server")
    expect(api!.input).toMatchObject({
      command: ["node", "--no-warnings", join(apps, "app.mjs"), "--greeting", "hello"],
      workingDirectory: join(apps, "esm-package"),
      instances: 2,
      env: { NODE_ENV: "development", PORT: "3000", DEBUG: "false" },
      envProfiles: { production: { NODE_ENV: "production", WORKERS: "4" } },
      resources: { memory: "300M" },
      shutdownTimeout: "3000ms",
      initTimeout: "8000ms",
      pidFile: join(apps, "esm-package", "api.pid"),
      restart: {
        policy: "always",
        cron: "0 3 * * *",
        backoff: { initial: "500ms", max: "500ms", multiplier: 1 },
        crashLoop: { burst: 10 },
        minUptime: "5s"
      }
    })
    const notMapped = (app: Ecosystem.ImportedApp) => app.keys.filter((key) => key.to === undefined).map((key) => key.key).sort()
    expect(notMapped(api!)).toEqual(["error_file", "log_date_format", "merge_logs", "namespace", "out_file", "treekill"])
    expect(worker!.input).toMatchObject({
      env: { PORT: "4000" },
      restart: { policy: "never", backoff: { initial: "100ms", multiplier: 1.5, max: "15s" } },
      watch: { paths: ["."], ignore: ["node_modules", "*.log"], debounce: "2000ms" },
      platform: { native: { ready: "notify" } }
    })
    expect(notMapped(worker!)).toEqual(["instance_var", "some_unknown_key"])
    expect(worker!.keys.find((key) => key.key === "some_unknown_key")!.note).toMatch(/not a PM2 app key Duende knows/)
  })

  it("names the app and the key of a value it cannot use", () => {
    const bad = (app: Record<string, unknown>) => Either.getLeft(Ecosystem.fromEcosystem({ apps: [app] }, apps)).pipe((o) => o._tag === "Some" ? o.value : "")
    expect(bad({ name: "a", script: "x.js", instances: "lots" })).toBe('apps[0] (a).instances: expected a whole number, got "lots"')
    expect(bad({ name: "a" })).toBe("apps[0] (a).script: every app needs one (the file or command to run)")
    expect(bad({ name: "a", script: "x.js", env: "NODE_ENV=production" })).toBe('apps[0] (a).env: expected an object of variables, got "NODE_ENV=production"')
    expect(Either.getLeft(Ecosystem.fromEcosystem({ apps: [] }, apps))._tag).toBe("Some")
    expect(Either.getLeft(Ecosystem.fromEcosystem({ apps: [{ name: "A", script: "x.js" }, { name: "a", script: "y.js" }] }, apps))).toEqual(
      expect.objectContaining({ value: expect.stringMatching(/two apps are named "a"/) })
    )
  })

  it("`duende import` writes one config per app that loads, and a report of every key; it replaces nothing without --force", async () => {
    const out = mkdtempSync(join(tmpdir(), "duende-pm2-out-"))
    const file = join(apps, "esm-package", "ecosystem.config.js")
    const result = await duende("import", file, "-o", out)
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/log_date_format +not mapped: every log line has an ISO 8601 time/)
    expect(result.stdout).toMatch(/env_production +→ envProfiles\.production/)
    const api = await Effect.runPromise(DaemonConfig.load(join(out, "api-server.json")))
    expect(api.command).toEqual({ program: "node", args: ["--no-warnings", join(apps, "app.mjs"), "--greeting", "hello"] })
    expect(api.restart.cron).toBe("0 3 * * *")
    expect((await Effect.runPromise(DaemonConfig.load(join(out, "worker.json")))).restart.policy).toBe("never")
    expect(readFileSync(join(out, "pm2-import-report.txt"), "utf8")).toContain("some_unknown_key")
    const again = await duende("import", file, "-o", out)
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/exist\(s\): give --force to replace/)
    expect((await duende("import", file, "-o", out, "--force")).code).toBe(0)
    expect((await duende("import", join(apps, "app.mjs"))).code).toBe(2) // a module, but no ecosystem file
    rmSync(out, { recursive: true, force: true })
  })

  it("`duende start ecosystem.config.js --env production --only api-server` runs its instances with the profile", async () => {
    const file = join(apps, "esm-package", "ecosystem.config.js")
    const result = await duende("start", file, "--env", "production", "--only", "api-server")
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^api-server: running \(2 instances\)/)
    // Keys it does not map are said once each, on stderr.
    expect(result.stderr).toMatch(/api-server: log_date_format is not mapped/)
    expect(await logLine("api-server@1", /^app /)).toBe(
      "app args=--greeting hello NODE_ENV=production PORT=3000 WORKERS=4 instance=1"
    )
    const unknownProfile = await duende("start", file, "--env", "prod")
    expect(unknownProfile.code).toBe(2)
    expect(unknownProfile.stderr).toMatch(/has no env profile "prod"; its profiles: production/)
    expect((await duende("rm", "api-server")).code).toBe(0)
  }, 60_000)

  it("starts an ES module ecosystem file whose app runs with its interpreter and arguments", async () => {
    const result = await duende("start", join(apps, "ecosystem.config.mjs"), "--env", "staging")
    expect(result.code).toBe(0)
    expect(await logLine("shell-job", /^job /)).toBe("job one|two words|staging")
    expect((await duende("rm", "shell-job")).code).toBe(0)
  }, 60_000)
})

describe("scripts and command lines as daemons", () => {
  it("`duende start app.mjs -- a b` runs node app.mjs a b under the supervisor, named after the file", async () => {
    const result = await duendeIn(apps)("start", "app.mjs", "--", "a", "--b")
    expect(result.stderr).toBe("")
    expect(result.stdout).toMatch(/^app: running \(pid \d+\)/)
    expect(await logLine("app", /^app /)).toMatch(/^app args=a --b NODE_ENV=\S+ PORT=undefined WORKERS=- instance=-$/)
    const status = JSON.parse((await duende("status", "app", "--json")).stdout)
    expect(status.command).toEqual([process.execPath, join(apps, "app.mjs"), "a", "--b"])
    expect((await duende("rm", "app")).code).toBe(0)
  }, 60_000)

  it("runs a TypeScript script with tsx, and a named script with -i", async () => {
    const result = await duendeIn(fixtures)("start", "hello.ts", "--name", "greeter", "-i", "2", "--", "world")
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^greeter: running \(2 instances\)/)
    expect(await logLine("greeter@0", /hello from/)).toBe("hello from typescript world")
    expect((await duende("rm", "greeter")).code).toBe(0)
  }, 60_000)

  it("runs a command line: split into words without a shell, or by /bin/sh when it uses the shell's syntax", async () => {
    const plain = await duendeIn(apps)("start", `${process.execPath} app.mjs 'one two' three`)
    expect(plain.code).toBe(0)
    expect(plain.stdout).toMatch(/^node: running/)
    expect(await logLine("node", /^app /)).toMatch(/^app args=one two three /)
    const shell = await duendeIn(apps)("start", "echo piped | cat && exec sleep 1000", "--name", "piped")
    expect(shell.code).toBe(0)
    expect(await logLine("piped", /piped/)).toBe("piped")
    expect((await duende("rm", "node")).code).toBe(0)
    expect((await duende("rm", "piped")).code).toBe(0)
  }, 60_000)

  it("says what to do with a script it cannot run, and refuses script flags for a name", async () => {
    const ts = mkdtempSync(join(tmpdir(), "duende-pm2-ts-"))
    cpSync(join(fixtures, "hello.ts"), join(ts, "hello.ts"))
    const noTsx = await runner({ ...env, PATH: "/usr/bin:/bin" }, 60_000, ts)("start", "hello.ts")
    expect(noTsx.code).toBe(2)
    expect(noTsx.stderr).toMatch(/is TypeScript, which needs tsx to run: `npm install -D tsx`/)
    const notExecutable = await duendeIn(apps)("start", "job.sh")
    expect(notExecutable.code).toBe(2)
    expect(notExecutable.stderr).toMatch(/job\.sh is not executable: `chmod \+x` it, or give --interpreter/)
    const named = await duende("start", "some-daemon", "--watch")
    expect(named.code).toBe(2)
    expect(named.stderr).toMatch(/is the name of a daemon, which takes none of/)
    expect(existsSync(join(home, "registry.json")) ? JSON.parse(readFileSync(join(home, "registry.json"), "utf8")) : []).not.toContainEqual(
      expect.objectContaining({ name: "hello" })
    )
    rmSync(ts, { recursive: true, force: true })
  }, 60_000)
})
