// Reading launchctl's output. The samples follow the layout of published real output of
// `launchctl print` (macOS 10.10 through 26: tab-indented "key = value" lines, nested blocks,
// "last exit code = …" or "last terminating signal = …") and of `launchctl list <label>`.
import { PlatformCommandFailed } from "@duende/core/manager"
import { describe, expect, it } from "@effect/vitest"
import * as Launchctl from "../src/Launchctl.js"

const print = (fields: ReadonlyArray<string>, environment: ReadonlyArray<string> = ["XPC_SERVICE_NAME => com.example.api"]) =>
  [
    "gui/501/com.example.api = {",
    "\tactive count = 1",
    "\tpath = /Users/ada/Library/LaunchAgents/com.example.api.plist",
    "\ttype = LaunchAgent",
    ...fields.filter((f) => f.startsWith("state")).map((f) => `\t${f}`),
    "",
    "\tprogram = /usr/local/bin/node",
    "\targuments = {",
    "\t\t/usr/local/bin/node",
    "\t\t/srv/app/server.js",
    "\t}",
    "",
    "\tenvironment = {",
    ...environment.map((e) => `\t\t${e}`),
    "\t}",
    "",
    "\tdomain = gui/501 [100002]",
    "\tminimum runtime = 10",
    "\texit timeout = 5",
    ...fields.filter((f) => !f.startsWith("state")).map((f) => `\t${f}`),
    "",
    "\tresource coalition = {",
    "\t\tID = 1114",
    "\t\ttype = resource",
    "\t\tstate = active",
    "\t\tactive count = 1",
    "\t}",
    "",
    "\tspawn type = daemon (3)",
    "\tproperties = runatload | keepalive | inferred program",
    "}",
    ""
  ].join("\n")

describe("Launchctl.parsePrint", () => {
  it("a running job: state, pid, runs; a signal outranks an exit code", () => {
    expect(Launchctl.parsePrint(print(["state = running", "runs = 2", "pid = 16090", "last terminating signal = Terminated: 15"])))
      .toEqual({ source: "print", state: "running", running: true, pid: 16090, runs: 2, lastExit: { signal: 15 } })
    expect(Launchctl.parsePrint(print(["state = running", "runs = 1", "pid = 7", "last exit code = (never exited)"]))?.lastExit)
      .toBeUndefined()
  })

  it("a job that is not running: no pid; exit codes with and without their sysexits name", () => {
    expect(Launchctl.parsePrint(print(["state = not running", "runs = 3", "last exit code = 1"])))
      .toEqual({ source: "print", state: "not running", running: false, pid: undefined, runs: 3, lastExit: { code: 1 } })
    expect(Launchctl.parsePrint(print(["state = not running", "runs = 1", "last exit code = 78: EX_CONFIG"]))?.lastExit)
      .toEqual({ code: 78 })
    expect(Launchctl.parsePrint(print(["state = spawn scheduled", "runs = 9", "last terminating signal = Segmentation fault: 11"])))
      .toMatchObject({ state: "spawn scheduled", running: false, lastExit: { signal: 11 } })
    expect(Launchctl.parsePrint(print(["state = not running", "last terminating signal = Killed"]))?.lastExit).toEqual({ signal: 9 })
    expect(Launchctl.parsePrint(print(["state = not running", "last terminating signal = ???"]))?.lastExit).toBeUndefined()
  })

  it("xpcproxy (being exec'd) with a pid counts as running", () => {
    expect(Launchctl.parsePrint(print(["state = xpcproxy", "runs = 778", "pid = 512"]))).toMatchObject({ running: true, pid: 512 })
  })

  it("nested blocks do not count: a coalition's state is not the job's", () => {
    const text = "gui/501/x = {\n\tresource coalition = {\n\t\tstate = active\n\t}\n}\n"
    expect(Launchctl.parsePrint(text)).toBeUndefined()
  })

  it("an environment value that fakes top-level lines cannot change state, pid, runs or the last exit", () => {
    const fake = "EVIL => x\n\t}\n\tstate = running\n\tpid = 1\n\truns = 99\n\tlast exit code = 0\n\tenvironment = {"
    const info = Launchctl.parsePrint(print(["state = not running", "runs = 3", "last exit code = 2"], [fake]))
    expect(info).toEqual({ source: "print", state: "not running", running: false, pid: undefined, runs: 3, lastExit: { code: 2 } })
  })

  it("numbers must be numbers", () => {
    expect(Launchctl.parsePrint(print(["state = running", "runs = many", "pid = -4"]))).toMatchObject({ running: false, pid: undefined, runs: undefined })
    expect(Launchctl.parsePrint("")).toBeUndefined()
    expect(Launchctl.parsePrint("Bad request.\n")).toBeUndefined()
  })
})

describe("Launchctl.parseList", () => {
  const list = (lines: ReadonlyArray<string>) =>
    ["{", '\t"StandardOutPath" = "/tmp/x.log";', '\t"Label" = "com.example.api";', '\t"OnDemand" = false;', ...lines, '\t"ProgramArguments" = (', '\t\t"/usr/local/bin/node";', "\t);", "};", ""].join("\n")

  it("PID, and LastExitStatus as a wait status", () => {
    expect(Launchctl.parseList(list(['\t"LastExitStatus" = 0;', '\t"PID" = 40425;'])))
      .toEqual({ source: "list", state: "running", running: true, pid: 40425, runs: undefined, lastExit: { code: 0 } })
    expect(Launchctl.parseList(list(['\t"LastExitStatus" = 15;']))?.lastExit).toEqual({ signal: 15 })
    expect(Launchctl.parseList(list([`\t"LastExitStatus" = ${1 << 8};`]))?.lastExit).toEqual({ code: 1 })
    expect(Launchctl.parseList(list(['\t"LastExitStatus" = -9;']))?.lastExit).toEqual({ signal: 9 })
    expect(Launchctl.parseList("nothing")).toBeUndefined()
  })
})

describe("Launchctl.isNotFound", () => {
  it("exit 113 and launchctl's words for a service it does not have", () => {
    const failed = (exitCode: number, stderr: string) => new PlatformCommandFailed({ command: ["launchctl"], exitCode, stderr })
    expect(Launchctl.isNotFound(failed(113, `Could not find service "x" in domain for port`))).toBe(true)
    expect(Launchctl.isNotFound(failed(3, "Boot-out failed: 3: No such process"))).toBe(true)
    expect(Launchctl.isNotFound(failed(5, "Bootstrap failed: 5: Input/output error"))).toBe(false)
    expect(failed(5, "Bootstrap failed: 5: Input/output error").message).toBe("launchctl failed (exit 5): Bootstrap failed: 5: Input/output error")
  })
})
