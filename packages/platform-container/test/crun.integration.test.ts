// The runc/crun driver with real crun. crun as installed here refuses the hybrid cgroup layout
// ("cgroups in hybrid mode not supported"): the recipe's wrapper runs it in a mount namespace
// without /sys/fs/cgroup/unified (recipes/oci.md). The wrapper is test setup, not the adapter's.
import { Integration } from "@duende/testing"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import * as ContainerAdapter from "../src/ContainerAdapter.js"
import { daemonConfig, isExit, repoMount, subscribe, tool } from "./helpers/containers.js"

const gate = Integration.check(Integration.tool("crun"), Integration.tool("unshare", "apt-get install util-linux"), Integration.root())

const base = mkdtempSync(join(tmpdir(), "duende-crun-"))
const wrapper = join(base, "crun")
writeFileSync(
  wrapper,
  `#!/bin/sh\nexec unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"' crun "$@"\n`,
  { mode: 0o755 }
)
const runtimeRoot = join(base, "state-crun")

afterAll(() => {
  const listed = tool(wrapper, ["--root", runtimeRoot, "list", "--quiet"]).stdout.split("\n").filter((id) => id !== "")
  for (const id of listed) tool(wrapper, ["--root", runtimeRoot, "delete", "--force", id])
  rmSync(base, { recursive: true, force: true })
})

describe.skipIf(!gate.ok)(`crun containers${gate.label}`, () => {
  it.scopedLive("runs the Duende daemon, reports READY, stops it gracefully with exit 143", () =>
    Effect.gen(function*() {
      const containers = yield* ContainerAdapter.make({
        stateDirectory: join(base, "state"),
        driver: "crun",
        runtimePath: wrapper,
        runtimeRoot,
        pollInterval: "200 millis",
        section: { mounts: [repoMount], ready: "notify" }
      })
      const handle = yield* containers.install(daemonConfig("crun-daemon"))
      const events = yield* subscribe(containers.events(handle))
      yield* containers.start(handle)
      const running = yield* containers.status(handle)
      expect(running.status._tag).toBe("Running")
      expect(running.statusText).toBe("running")
      expect(tool(wrapper, ["--root", runtimeRoot, "state", handle.ref]).stdout).toContain(`"status": "running"`)
      yield* containers.stop(handle, Duration.seconds(5))
      const [exited] = (yield* events(isExit)).filter(isExit)
      expect(exited).toMatchObject({ exit: { code: 143 } })
      expect((yield* containers.logs(handle)).map((l) => l.text)).toContain("event:shutdown:Signal")
      yield* containers.uninstall(handle)
    }))
})
