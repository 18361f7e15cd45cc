// Socket activation, transient units (systemd-run), the user scope, and fuzzed configs
// loaded into a real systemd (PID 1 in systemd-nspawn): what systemd reads back, and
// what the daemon process actually receives, is exactly what the config said.
import type { DaemonConfig } from "@duende/core"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schedule from "effect/Schedule"
import fc from "fast-check"
import { existsSync, lstatSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as SystemdAdapter from "../src/SystemdAdapter.js"
import * as SystemdSection from "../src/SystemdSection.js"
import * as SystemdUnit from "../src/SystemdUnit.js"
import { envName, text } from "./helpers/arbitraries.js"
import { boot, gate, type Machine } from "./helpers/nspawn.js"
import { environmentProperty } from "./helpers/show.js"

const fixture = join(__dirname, "fixtures", "http-daemon.mjs")
let nextPort = 20_000 + Math.floor(Math.random() * 20_000)
const config = (name: string, input: Partial<DaemonConfig.Input> = {}, env: Record<string, string> = {}) => {
  const port = nextPort++
  return {
    port,
    config: decodeSync({ name, command: ["node", fixture], env: { PORT: String(port), ...env }, shutdownTimeout: "10s", ...input })
  }
}
const fetchText = (port: number) =>
  Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/`).then((response) => response.text()))
const eventually = <A, E>(effect: Effect.Effect<A, E>, check: (a: A) => boolean, what: string) =>
  effect.pipe(
    Effect.filterOrFail(check, (a) => new Error(`not yet ${what}: ${JSON.stringify(a)}`)),
    Effect.retry(Schedule.intersect(Schedule.spaced(Duration.millis(100)), Schedule.recurs(300)))
  )

describe.skipIf(!gate.ok)(`systemd in nspawn: sockets, transient units, user scope, fuzzed configs${gate.label}`, () => {
  let machine: Machine
  let system: SystemdAdapter.SystemdAdapter
  let user: SystemdAdapter.SystemdAdapter
  const sections: Record<string, SystemdSection.SystemdSection> = {}
  const exec = (argv: ReadonlyArray<string>) =>
    Effect.promise(() => machine.exec(argv)).pipe(
      Effect.filterOrFail((r) => r.code === 0, (r) => new Error(`${argv.join(" ")}: ${r.stderr}`))
    )

  beforeAll(async () => {
    machine = await boot({ userManager: true })
    const common = { prefix: machine.prefix, root: machine.root, systemd: (c: DaemonConfig.DaemonConfig) => sections[c.name] ?? SystemdSection.defaults }
    system = await Effect.runPromise(SystemdAdapter.make(common))
    user = await Effect.runPromise(
      SystemdAdapter.make({ ...common, scope: "user", env: { ...process.env, HOME: "/root", XDG_RUNTIME_DIR: "/run/user/0" } })
    )
  }, 90_000)
  afterAll(() => machine?.shutdown(), 60_000)

  it.live("socket activation: the first request starts the daemon on the socket systemd listens on", () =>
    Effect.gen(function*() {
      const { config: c, port } = config("activated")
      sections.activated = Either.getOrThrow(SystemdSection.decode({ socket: { listen: [`127.0.0.1:${port}`], name: "http" } }))
      const handle = yield* system.install(c)
      expect(existsSync(join(machine.root, "etc/systemd/system/activated.socket"))).toBe(true)
      // Enabled for boot through sockets.target, not the service itself.
      expect(lstatSync(join(machine.root, "etc/systemd/system/sockets.target.wants/activated.socket")).isSymbolicLink()).toBe(true)
      yield* system.systemctl.run("systemctl", ["start", "activated.socket"])
      expect((yield* system.status(handle)).status._tag).toBe("Created")
      expect(yield* fetchText(port)).toMatch(/^hello from \d+ \(1\)/)
      expect((yield* system.status(handle)).status._tag).toBe("Running")
      const log = (yield* system.logs(handle)).map((l) => l.text).join("\n")
      expect(log).toMatch(/event:listening fd=3 name=http/)
      // restart is the service's only: the socket listens all along (the same activation), a new process serves.
      const before = yield* system.systemctl.show("activated.socket", ["ActiveEnterTimestampMonotonic"])
      const oldPid = (yield* system.status(handle)).pid
      yield* system.restart(handle, Duration.seconds(10))
      expect(yield* system.systemctl.show("activated.socket", ["ActiveState", "ActiveEnterTimestampMonotonic"])).toEqual({
        ActiveState: "active",
        ActiveEnterTimestampMonotonic: before.ActiveEnterTimestampMonotonic
      })
      const newPid = (yield* system.status(handle)).pid
      expect(newPid).toBeDefined()
      expect(newPid).not.toBe(oldPid)
      expect(yield* fetchText(port)).toMatch(new RegExp(`^hello from ${newPid} `))
      // stop takes the socket down too: nothing listens any more.
      yield* system.stop(handle, Duration.seconds(10))
      expect((yield* Effect.either(fetchText(port)))._tag).toBe("Left")
      // start brings up the socket it requires.
      yield* system.start(handle)
      expect(yield* fetchText(port)).toMatch(/\(1\)/)
      yield* system.stop(handle, Duration.seconds(10))
      yield* system.uninstall(handle)
      expect(existsSync(join(machine.root, "etc/systemd/system/activated.socket"))).toBe(false)
    }), 60_000)

  it.live("instances: the template's instances, started by their target, all accept on the one .socket", () =>
    Effect.gen(function*() {
      const shared = nextPort++
      const { config: c, port } = config("many", { instances: 3, listen: [{ name: "http", port: shared }] })
      const units = SystemdUnit.render(c, { scope: "system", version: 252, host: { root: machine.root } })
      if (Either.isLeft(units)) throw new Error(units.left.message)
      for (const unit of units.right) writeFileSync(join(machine.root, "etc/systemd/system", unit.name), unit.content)
      yield* system.systemctl.run("systemctl", ["daemon-reload"])
      yield* system.systemctl.run("systemctl", ["start", "many.target"])
      const pids = yield* eventually(
        Effect.forEach([0, 1, 2], (i) => system.systemctl.show(`many@${i}.service`, ["MainPID", "ActiveState"])),
        (all) => all.every((p) => p.ActiveState === "active" && p.MainPID !== "0"),
        "every instance active"
      )
      const mains = new Set(pids.map((p) => p.MainPID))
      expect(mains.size).toBe(3)
      // Every answer comes from one of the three, over the one port (their own PORT is not listened on).
      const answers = yield* Effect.forEach(Array.from({ length: 60 }), () => fetchText(shared), { concurrency: 6 })
      const answering = new Set(answers.map((text) => /^hello from (\d+)/.exec(text)?.[1]))
      for (const pid of answering) expect(mains.has(pid!)).toBe(true)
      expect(answering.size).toBeGreaterThanOrEqual(2)
      expect((yield* Effect.either(fetchText(port)))._tag).toBe("Left")
      // Each got the socket by systemd's protocol and its number.
      const environment = yield* system.systemctl.show("many@2.service", ["Environment"])
      expect(environment.Environment).toMatch(/DUENDE_INSTANCE=2/)
      // Stopping the target stops them all (PartOf=).
      yield* system.systemctl.run("systemctl", ["stop", "many.target", "many.socket"])
      const after = yield* Effect.forEach([0, 1, 2], (i) => system.systemctl.show(`many@${i}.service`, ["ActiveState"]))
      expect(after.map((p) => p.ActiveState)).toEqual(["inactive", "inactive", "inactive"])
    }), 90_000)

  it.live("a transient daemon through systemd-run, with the same properties", () =>
    Effect.gen(function*() {
      const { config: c, port } = config("transient", {}, { FIXTURE_INIT_DELAY_MS: "800" })
      const started = Date.now()
      const handle = yield* system.runTransient(c)
      expect(Date.now() - started).toBeGreaterThanOrEqual(800)
      expect(existsSync(join(machine.root, "etc/systemd/system/transient.service"))).toBe(false)
      const state = yield* system.status(handle)
      expect(state.status._tag).toBe("Running")
      expect(yield* fetchText(port)).toMatch(/^hello/)
      const props = yield* system.systemctl.show("transient.service", ["DynamicUser", "ProtectSystem", "NotifyAccess", "FragmentPath"])
      expect(props).toMatchObject({ DynamicUser: "yes", ProtectSystem: "strict", NotifyAccess: "main" })
      expect(props.FragmentPath).toMatch(/^\/run\/systemd\/transient\//)
      expect((yield* system.find("transient")).ref).toBe("transient.service")
      expect((yield* Effect.flip(system.runTransient(c)))._tag).toBe("DaemonAlreadyRunning")
      yield* system.stop(handle, Duration.seconds(10))
      const gone = yield* eventually(Effect.flip(system.status(handle)), (e) => e._tag === "DaemonNotFound", "unloaded")
      expect(gone._tag).toBe("DaemonNotFound")
    }), 60_000)

  it.live("the user scope: install, start, status, logs, restart, stop and uninstall under the user's manager", () =>
    Effect.gen(function*() {
      const { config: c, port } = config("personal")
      const handle = yield* user.install(c)
      expect(existsSync(join(machine.root, "root/.config/systemd/user/personal.service"))).toBe(true)
      yield* user.start(handle)
      const first = yield* user.status(handle)
      expect(first.status._tag).toBe("Running")
      expect(yield* fetchText(port)).toMatch(/^hello/)
      const cgroup = yield* user.systemctl.show("personal.service", ["ControlGroup"])
      expect(cgroup.ControlGroup).toMatch(/user@0\.service/)
      const log = yield* eventually(user.logs(handle), (lines) => lines.some((l) => l.text.endsWith("] ready")), "ready logged")
      expect(log.map((l) => l.text)).toContain(`event:listening port=${port}`)
      yield* user.restart(handle, Duration.seconds(10))
      const second = yield* user.status(handle)
      expect(second.status._tag).toBe("Running")
      expect(second.pid).not.toBe(first.pid)
      expect((yield* Effect.flip(user.uninstall(handle)))._tag).toBe("OperationUnsupported")
      yield* user.stop(handle, Duration.seconds(10))
      yield* user.uninstall(handle)
      expect(existsSync(join(machine.root, "root/.config/systemd/user/personal.service"))).toBe(false)
    }), 60_000)

  it.live("find: by daemon name, also when the unit is renamed; the id survives a reinstall", () =>
    Effect.gen(function*() {
      const { config: c } = config("renamed")
      sections.renamed = Either.getOrThrow(SystemdSection.decode({ unit: "acme-renamed" }))
      const handle = yield* system.install(c)
      expect(handle.ref).toBe("acme-renamed.service")
      const found = yield* system.find("renamed")
      expect(found).toEqual(handle)
      const again = yield* system.install(c)
      expect(again.id).toBe(handle.id)
      expect((yield* Effect.flip(system.find("no-such-daemon")))._tag).toBe("DaemonNotFound")
      yield* system.uninstall(handle)
    }), 60_000)

  it.live("a stop that outlasts its timeout is finished with SIGKILL", () =>
    Effect.gen(function*() {
      // A shutdown deadline far beyond the adapter's timeout: the adapter must not wait for it.
      const { config: c } = config("stubborn", { shutdownTimeout: "60s", command: ["/bin/sh", "-c", "trap '' TERM; systemd-notify --ready; while :; do sleep 1; done"] })
      const handle = yield* system.install(c)
      const dropIn = join(machine.root, "etc/systemd/system/stubborn.service.d")
      yield* Effect.sync(() => {
        mkdirSync(dropIn, { recursive: true })
        writeFileSync(join(dropIn, "all.conf"), "[Service]\nNotifyAccess=all\n")
      })
      yield* system.systemctl.run("systemctl", ["daemon-reload"])
      yield* system.start(handle)
      const began = Date.now()
      yield* system.stop(handle, Duration.seconds(2))
      expect(Date.now() - began).toBeLessThan(30_000)
      const state = yield* system.status(handle)
      expect(state.status._tag).not.toBe("Running")
      expect(state.pid).toBeUndefined()
      yield* Effect.ignore(system.systemctl.run("systemctl", ["reset-failed", "stubborn.service"]))
      yield* system.uninstall(handle)
    }), 60_000)

  it.live("fuzzed configs loaded into systemd: systemctl show and the process get exactly the values given", () =>
    Effect.gen(function*() {
      const samples = fc.sample(
        fc.record({
          args: fc.array(text(16), { maxLength: 4 }),
          env: fc.dictionary(envName.filter((n) => !/^(PORT|PATH|HOME|LANG|TZ|NODE_.*|FIXTURE_.*|DUENDE_.*|LD_.*)$/.test(n)), text(20), { maxKeys: 4 })
        }),
        { numRuns: 6, seed: 20261124 }
      )
      for (const [index, sample] of samples.entries()) {
        const name = `fuzz-${index}`
        const { config: c } = config(name, { command: { program: "node", args: [fixture, ...sample.args] } }, sample.env)
        const handle = yield* system.install(c)
        const units = yield* system.units(c)
        yield* system.start(handle)
        // What systemd parsed, as `systemctl show` prints it.
        const shown = yield* system.systemctl.show(`${name}.service`, ["Environment", "ExecStart", "MainPID"])
        const pairs = Either.getOrThrow(environmentProperty(shown.Environment!))
        expect(Object.fromEntries(pairs)).toEqual(c.env)
        // ExecStart= shows argv joined by spaces, $ still doubled: systemd reads $$ as $ when it runs the command.
        const argv = units.argv.map((arg) => arg.replaceAll("$", "$$$$")).join(" ")
        expect(shown.ExecStart).toContain(`{ path=${units.argv[0]} ; argv[]=${argv} ; `)
        // What the process received.
        const pid = shown.MainPID!
        const cmdline = yield* exec(["cat", `/proc/${pid}/cmdline`])
        expect(cmdline.stdout.split("\0").slice(0, -1)).toEqual(units.argv)
        const environ = (yield* exec(["cat", `/proc/${pid}/environ`])).stdout.split("\0")
        for (const [key, value] of Object.entries(c.env)) expect(environ).toContain(`${key}=${value}`)
        yield* system.stop(handle, Duration.seconds(10))
        yield* system.uninstall(handle)
      }
    }), 120_000)
})
