// `duende … --platform kubernetes` as a user runs it, each command a new process, against the
// recording STAND-IN of the API server (packages/platform-kubernetes/test/stand-in: it checks
// each request against the API's conventions, and its kubelet runs each pod's command as a local
// process). No Kubernetes API server can run here; the kind workflow runs the package's suite
// against a real cluster. Install applies the objects (0 replicas), start scales up and returns
// once the pod is ready, status and logs come from the pod, stop scales to 0 gracefully, rm
// deletes every object.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runner } from "./helpers/cli.js"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Target from "../../platform-kubernetes/test/helpers/target.js"

const root = mkdtempSync(join(tmpdir(), "duende-cli-kubernetes-"))

let target: Target.Target
beforeAll(async () => {
  target = await Target.start()
})
afterAll(async () => {
  await target?.close()
  rmSync(root, { recursive: true, force: true })
})

const duende = runner({ DUENDE_HOME: root }, 180_000)

describe(`duende --platform kubernetes (${Target.real ? "a real cluster" : "stand-in API server"})`, () => {
  it("installs, starts, reports, shows the log, stops and removes a daemon, with server-side apply as field manager duende", async () => {
    const config = join(root, "api.json")
    const { platform: _platform, ...daemon } = target.daemon("cli-api", { shutdownMs: 300 })
    writeFileSync(config, JSON.stringify(daemon))
    const on = [
      "--platform",
      "kubernetes",
      "--kubeconfig",
      target.kubeconfig,
      "--namespace",
      target.namespace,
      "--image",
      target.image,
      ...(target.context !== undefined ? ["--context", target.context] : [])
    ]

    const installed = await duende("install", config, ...on)
    expect(installed).toMatchObject({ code: 0 })
    // The hint repeats the platform's flags, so that it can be pasted as it is.
    expect(installed.stdout).toMatch(
      new RegExp(`^cli-api: installed as kubernetes:${target.namespace}/Deployment/cli-api \\(\`duende start cli-api --platform kubernetes .*--namespace ${target.namespace}.*\` starts it\\)\n$`)
    )

    const started = await duende("start", "cli-api", ...on)
    expect(started).toMatchObject({ code: 0 })
    expect(started.stdout).toMatch(/^cli-api: running under kubernetes \(kubernetes:[a-z0-9-]+\/Deployment\/cli-api\)/)

    const status = JSON.parse((await duende("status", "cli-api", ...on, "--json")).stdout)
    expect(status).toMatchObject({ name: "cli-api", platform: "kubernetes", status: { _tag: "Running" }, statusText: "1/1 pods ready" })

    const logs = await duende("logs", "cli-api", ...on, "-n", "50")
    expect(logs.code).toBe(0)
    expect(logs.stdout).toMatch(/cwd=/)

    expect(await duende("stop", "cli-api", ...on, "--timeout", "20")).toMatchObject({ code: 0 })
    const stopped = JSON.parse((await duende("status", "cli-api", ...on, "--json")).stdout)
    expect(stopped).toMatchObject({ status: { _tag: "Stopped" }, lastExit: { code: 143 } })

    expect(await duende("rm", "cli-api", ...on)).toMatchObject({ code: 0, stdout: "cli-api: removed\n" })
    expect(await duende("status", "cli-api", ...on)).toMatchObject({ code: 1 })

    if (target.standIn !== undefined) {
      expect(target.standIn.violations).toEqual([])
      const applies = target.standIn.requests.filter((request) => request.contentType === "application/apply-patch+yaml")
      // This daemon listens on no port: no Service; one replica: no PodDisruptionBudget.
      expect(applies.map((request) => request.path.split("/").at(-2))).toEqual(expect.arrayContaining(["serviceaccounts", "deployments"]))
      for (const apply of applies) expect(apply.query).toMatchObject({ fieldManager: "duende", force: "true" })
      expect(target.standIn.cluster.list("deployments", target.namespace)).toEqual([])
      expect(target.standIn.cluster.list("serviceaccounts", target.namespace)).toEqual([])
    }
  }, 300_000)
})
