// The plist writer checked by a parser that is not ours: Python's plistlib. Every rendered
// plist is read by it and compared with the config, field by field; fuzzed configs with
// hostile strings either come back from plistlib exactly as written in the config, or are
// refused with an error naming the field that holds what XML cannot carry.
import type { DaemonConfig } from "@duende/core"
import { decodeEither, decodeSync } from "@duende/core/DaemonConfigSchema"
import { Integration } from "@duende/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import fc from "fast-check"
import { dirname, resolve } from "node:path"
import * as LaunchdJob from "../src/LaunchdJob.js"
import * as Plist from "../src/Plist.js"
import { component, envName, hostile } from "./helpers/hostile.js"
import * as Plistlib from "./helpers/plistlib.js"
import { value, writable } from "./helpers/plistValues.js"

const gate = Integration.check(Integration.tool("python3", "apt-get install python3"))
const host = { path: `${dirname(process.execPath)}:/usr/bin:/bin`, cwd: "/srv/app", home: "/Users/ada", uid: 501 }

const render = (c: DaemonConfig.DaemonConfig) => {
  const j = Either.getOrThrow(LaunchdJob.make(c, { host }))
  return { job: j, text: Either.getOrThrow(LaunchdJob.text(j)) }
}

/** What the config says each plist field must be, computed from the config alone. */
const expected = (c: DaemonConfig.DaemonConfig, argv: ReadonlyArray<string>): Record<string, unknown> => {
  const section = c.platform.launchd ?? LaunchdJob.sectionDefaults
  const label = section.label ?? `duende.${c.name}`
  const logs = section.domain === "system" ? "/Library/Logs/duende" : "/Users/ada/Library/Logs/duende"
  const limits: Record<string, bigint> = {}
  if (c.resources.openFilesMax !== undefined) limits.NumberOfFiles = BigInt(c.resources.openFilesMax)
  if (c.resources.pidsMax !== undefined) limits.NumberOfProcesses = BigInt(c.resources.pidsMax)
  if (c.resources.memory !== undefined) limits.ResidentSetSize = BigInt(c.resources.memory)
  if (c.resources.lockMemory) limits.MemoryLock = 2n ** 63n - 1n
  return {
    Label: label,
    ProgramArguments: argv,
    EnvironmentVariables: { ...c.env, ...(c.env.DUENDE_PLATFORM === undefined ? { DUENDE_PLATFORM: "launchd" } : {}) },
    WorkingDirectory: resolve("/srv/app", c.workingDirectory ?? "."),
    StandardOutPath: `${logs}/${label}.out.log`,
    StandardErrorPath: `${logs}/${label}.err.log`,
    RunAtLoad: section.runAtLoad,
    KeepAlive: c.restart.policy === "never"
      ? false
      : c.restart.policy === "on-failure"
      ? { SuccessfulExit: false, Crashed: true }
      : true,
    ThrottleInterval: BigInt(Math.max(1, Math.ceil(Duration.toMillis(c.restart.backoff.initial) / 1000))),
    ExitTimeOut: BigInt(Math.max(1, Math.ceil(Duration.toMillis(c.shutdownTimeout) / 1000))),
    ...(c.user === undefined ? {} : { UserName: c.user }),
    ...(c.group === undefined ? {} : { GroupName: c.group }),
    ...(Object.keys(limits).length === 0 ? {} : { SoftResourceLimits: limits, HardResourceLimits: limits })
  }
}

describe.skipIf(!gate.ok)(`rendered plists read by python3 plistlib${gate.label}`, () => {
  it("plistlib is a real check: it refuses a broken plist", () => {
    const [broken, fine] = Plistlib.load([
      `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>Label</key></dict></plist>`,
      `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>Label</key><string>x</string></dict></plist>`
    ])
    expect(broken).toMatchObject({ error: expect.stringMatching(/missing value|InvalidFileException|ValueError/i) })
    expect(fine).toEqual({ ok: { dict: [["Label", { string: "x" }]] } })
  })

  it("agent, daemon, every restart policy, limits, sockets: each field as the config says", () => {
    const configs = [
      decodeSync({ name: "api", command: ["node", "server.js", "--port", "80"], env: { A: "1", B: "two words" } }),
      decodeSync({
        name: "worker",
        command: ["/opt/worker/bin/worker", "run"],
        workingDirectory: "/opt/worker",
        user: "_worker",
        group: "staff",
        restart: { policy: "always", backoff: { initial: "5s" } },
        shutdownTimeout: "45s",
        resources: { openFilesMax: 10_000, pidsMax: 128, memory: "1G", lockMemory: true, cpuWeight: 50 },
        platform: { launchd: { label: "com.example.worker", domain: "system", runAtLoad: false } }
      }),
      decodeSync({ name: "once", command: ["/bin/echo", "hi"], restart: { policy: "never" } }),
      decodeSync({
        name: "web",
        command: ["node", "web.js"],
        restart: { policy: "unless-stopped" },
        platform: { launchd: { sockets: { http: { listen: ["8080", "[::1]:8443"] }, ctl: { listen: ["/tmp/web.sock"], pathMode: 0o600 } } } }
      })
    ]
    const rendered = configs.map(render)
    const results = Plistlib.load(rendered.map((r) => r.text))
    for (const [i, c] of configs.entries()) {
      const result = results[i]!
      if (!("ok" in result)) throw new Error(`plistlib refused ${c.name}: ${result.error}`)
      const fields = Plistlib.plain(result.ok) as Record<string, unknown>
      expect(fields).toMatchObject(expected(c, rendered[i]!.job.argv))
      expect(Plistlib.tagged(rendered[i]!.job.plist)).toEqual(result.ok)
    }
    const ok = (r: Plistlib.Result): Plistlib.Tagged => {
      if (!("ok" in r)) throw new Error(r.error)
      return r.ok
    }
    const worker = Plistlib.plain(ok(results[1]!)) as Record<string, unknown>
    expect(worker).toMatchObject({ ProcessType: "Background", LowPriorityIO: true, Nice: 3n })
    const web = Plistlib.plain(ok(results[3]!)) as Record<string, any>
    expect(web.Sockets.http).toEqual([
      { SockType: "stream", SockPassive: true, SockServiceName: "8080" },
      { SockType: "stream", SockPassive: true, SockNodeName: "::1", SockServiceName: "8443", SockFamily: "IPv6" }
    ])
    expect(web.Sockets.ctl).toEqual({ SockType: "stream", SockPassive: true, SockFamily: "Unix", SockPathName: "/tmp/web.sock", SockPathMode: 384n })
    expect(web.EnvironmentVariables.DUENDE_LAUNCHD_SOCKETS).toBe("http,ctl")
  })

  it("the writer's output is what plistlib reads, for any value (fuzzed)", () => {
    const values = fc.sample(value, 400)
    const results = Plistlib.load(values.map((v) => Either.getOrThrow(Plist.write(v))))
    values.forEach((v, i) => expect(results[i]).toEqual({ ok: Plistlib.tagged(v) }))
  })

  it("hostile strings in every string field: plistlib reads them back unchanged, or the config is refused naming the field (fuzzed)", () => {
    // Each field is now and then outright hostile, else hostile within what XML can carry: so
    // the sample has plists to read back as well as refusals.
    const text = (n?: number) => fc.oneof({ weight: 4, arbitrary: writable(n) }, { weight: 1, arbitrary: hostile(n) })
    const part = fc.oneof({ weight: 4, arbitrary: writable(16) }, { weight: 1, arbitrary: component() }).map((s) =>
      s.replaceAll("/", "_").slice(0, 200)
    )
    const input = fc.record({
      args: fc.array(text(), { maxLength: 4 }),
      env: fc.dictionary(envName, text(), { maxKeys: 4 }),
      dir: part,
      program: part,
      label: fc.oneof(fc.constant(undefined), hostile(20), fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9.-]{0,30}$/)),
      daemon: fc.boolean(),
      user: fc.oneof(fc.constant(undefined), hostile(10), fc.stringMatching(/^[a-z_][a-z0-9_-]{0,8}$/))
    })
    const cases = fc.sample(input, 300)
    const rendered: Array<{ config: DaemonConfig.DaemonConfig; job: LaunchdJob.Job; text: string }> = []
    let refusedAtDecode = 0
    let refusedAtRender = 0
    for (const x of cases) {
      const decoded = decodeEither({
        name: "fuzz",
        command: [`/opt/${x.program}/bin/server`, ...x.args],
        env: x.env,
        workingDirectory: `/srv/${x.dir}`,
        ...(x.user === undefined ? {} : { user: x.user }),
        platform: { launchd: { ...(x.label === undefined ? {} : { label: x.label }), domain: x.daemon ? "system" : "gui" } }
      })
      if (Either.isLeft(decoded)) {
        // Core refuses it first (lone surrogates, NUL, a bad label or account): named there.
        expect(decoded.left.problems.length).toBeGreaterThan(0)
        refusedAtDecode++
        continue
      }
      const c = decoded.right
      const made = LaunchdJob.make(c, { host })
      if (Either.isLeft(made)) {
        refusedAtRender++
        const field = made.left.field
        // The named field is one that holds what XML 1.0 cannot carry (or user on an agent).
        const holders: Record<string, string | undefined> = {
          "command.program": resolve("/srv/app", c.command.program),
          workingDirectory: resolve("/srv/app", c.workingDirectory ?? "."),
          ...Object.fromEntries(c.command.args.map((a, i) => [`command.args[${i}]`, a])),
          ...Object.fromEntries(Object.entries(c.env).map(([k, v]) => [`env.${k}`, v]))
        }
        if (field === "user") expect(x.daemon).toBe(false)
        else expect(Plist.problem(holders[field] ?? "")).toBeDefined()
        continue
      }
      rendered.push({ config: c, job: made.right, text: Either.getOrThrow(LaunchdJob.text(made.right)) })
    }
    const results = Plistlib.load(rendered.map((r) => r.text))
    rendered.forEach(({ config: c, job: j }, i) => {
      const result = results[i]!
      if (!("ok" in result)) throw new Error(`plistlib refused a plist the writer wrote: ${result.error}`)
      const fields = Plistlib.plain(result.ok) as Record<string, any>
      expect(fields.ProgramArguments.slice(1)).toEqual(c.command.args)
      expect(fields.ProgramArguments[0]).toBe(resolve("/srv/app", c.command.program))
      expect(fields).toMatchObject(expected(c, j.argv))
    })
    // The sample exercised all three outcomes.
    expect(rendered.length).toBeGreaterThan(20)
    expect(refusedAtRender).toBeGreaterThan(5)
    expect(refusedAtDecode).toBeGreaterThan(5)
  })
})
