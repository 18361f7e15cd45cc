// `duende render`: the CLI prints (or writes) what a config becomes on each platform, and a
// config that cannot be rendered is a config error (exit 78) that says what to add.
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import YAML from "yaml"

const bin = join(__dirname, "..", "bin", "duende.js")
const counter = join(__dirname, "..", "..", "..", "examples", "http-counter", "duende.json")
const scratch = mkdtempSync(join(tmpdir(), "duende-render-"))

const duende = (...args: Array<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }))
  })

afterAll(() => rmSync(scratch, { recursive: true, force: true }))

describe("duende render", () => {
  it("renders the example for systemd, pinned to a version, and writes the units atomically with -o", async () => {
    const old = await duende("render", "systemd", counter, "--systemd-version", "252")
    expect(old.code).toBe(0)
    expect(old.stdout).toMatch(/^Type=notify$/m)
    expect(old.stdout).not.toMatch(/^RestartSteps=/m)
    const recent = await duende("render", "systemd", counter, "--systemd-version", "256", "--user", "-o", scratch)
    expect(recent).toMatchObject({ code: 0, stdout: `${join(scratch, "http-counter.service")}\n` })
    const unit = readFileSync(join(scratch, "http-counter.service"), "utf8")
    expect(unit).toMatch(/^Type=notify-reload$/m)
    expect(unit).toMatch(/^RestartSteps=\d+$/m)
    expect(unit).toMatch(/^WantedBy=default\.target$/m)
    expect(statSync(join(scratch, "http-counter.service")).mode & 0o777).toBe(0o644)
  })

  it("follows the config's own platform.systemd: scope, unit name, hardening opt-out", async () => {
    const own = join(scratch, "own.json")
    const example = JSON.parse(readFileSync(counter, "utf8"))
    writeFileSync(
      own,
      JSON.stringify({
        ...example,
        $schema: undefined,
        workingDirectory: join(counter, ".."),
        platform: { systemd: { scope: "user", unit: "counter-open", hardening: false } }
      })
    )
    const result = await duende("render", "systemd", own, "--systemd-version", "252")
    expect(result.stdout).toMatch(/^# counter-open\.service: written by Duende/)
    expect(result.stdout).toMatch(/^WantedBy=default\.target$/m)
    expect(result.stdout).not.toMatch(/^(DynamicUser|ProtectSystem|SystemCallFilter)=/m)
  })

  it("renders the container formats from the same config", async () => {
    const engine = await duende("render", "engine", counter, "--image", "localhost/counter:1")
    expect(engine.code).toBe(0)
    const body = JSON.parse(engine.stdout)
    expect(body).toMatchObject({
      Image: "localhost/counter:1",
      Labels: { "duende.daemon.name": "http-counter", "duende.daemon.version": "0.1.0" },
      HostConfig: { RestartPolicy: { Name: "on-failure" } }
    })
    const oci = JSON.parse((await duende("render", "oci", counter)).stdout)
    expect(oci.process.args).toEqual(["node", "dist/main.js"])
    const compose = await duende("render", "compose", counter, "--image", "localhost/counter:1")
    expect(compose.stdout).toMatch(/^services:\n {2}duende-http-counter:\n {4}image: "localhost\/counter:1"$/m)
    const docker = await duende("render", "docker", counter, "--image", "localhost/counter:1")
    expect(docker.stdout).toMatch(/^docker run /)
    expect(docker.stdout).toContain("localhost/counter:1")
  })

  it("renders a launchd plist (agent or daemon) and Kubernetes manifests from the same config", async () => {
    const agent = await duende("render", "launchd", counter)
    expect(agent.code).toBe(0)
    expect(agent.stdout).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n<!DOCTYPE plist /)
    expect(agent.stdout).toContain("<key>Label</key>\n\t<string>duende.http-counter</string>")
    expect(agent.stdout).not.toContain("<key>UserName</key>")
    // Each setting launchd cannot express is said, naming its field, apart from the plist.
    expect(agent.stderr).toMatch(/^duende: launchd cannot express watchdogInterval: /m)
    expect((await duende("render", "launchd", counter, "--agent", "--daemon")).code).toBe(2)

    const kubernetes = await duende("render", "kubernetes", counter, "--image", "ghcr.io/acme/counter:1", "--namespace", "demo")
    expect(kubernetes.code).toBe(0)
    const objects = YAML.parseAllDocuments(kubernetes.stdout).map((document) => document.toJS())
    // The example declares no listen sockets: no Service; one replica: no PodDisruptionBudget.
    expect(objects.map((object) => object.kind)).toEqual(["ServiceAccount", "Deployment"])
    for (const object of objects) expect(object.metadata).toMatchObject({ name: "http-counter", namespace: "demo" })
    const pod = objects[1].spec.template.spec
    expect(pod.containers[0]).toMatchObject({
      image: "ghcr.io/acme/counter:1",
      securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } }
    })
    expect(await duende("render", "kubernetes", counter)).toMatchObject({
      code: 78,
      stderr: "duende: platform.kubernetes.image: a pod needs an image: set it in the config, or give one (duende render kubernetes --image IMAGE)\n"
    })
    expect(await duende("render", "kubernetes", counter, "--image", "x:1", "--namespace", "Prod")).toMatchObject({ code: 2 })
  })

  it("warns that restart.cron and watch are the native supervisor's, and renders the rest", async () => {
    const config = join(scratch, "scheduled.json")
    writeFileSync(config, JSON.stringify({ name: "scheduled", command: [process.execPath], restart: { cron: "0 3 * * *" }, watch: ["src"] }))
    const result = await duende("render", "systemd", config, "--systemd-version", "252")
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^ExecStart=/m)
    expect(result.stderr).toContain("scheduled: restart.cron and watch are run by the native supervisor; systemd does not restart the daemon on them")
  })

  it("says what is missing, as a config error", async () => {
    const result = await duende("render", "compose", counter)
    expect(result).toMatchObject({
      code: 78,
      stderr: "duende: compose needs an image: set platform.container.image in the config, or say --image\n"
    })
    // A flag of another platform's formats is bad usage, either way round.
    expect(await duende("render", "systemd", counter, "--image", "localhost/x:1")).toMatchObject({
      code: 2,
      stderr: "duende: --image goes with oci, docker, podman, engine, compose, kubernetes\n"
    })
    expect((await duende("render", "oci", counter, "--user")).code).toBe(2)
  })
})
