// Where the lifecycle suite runs: the recording stand-in of the API server (default; its pods
// are local processes, see stand-in/cluster.ts), or a real cluster when DUENDE_K8S_KUBECONFIG
// names one (the kind workflow, .github/workflows/kind.yml), with an image holding this
// repository at /app.
import type { DaemonConfig } from "@duende/core"
import { Behavior } from "@duende/testing"
import { fileURLToPath } from "node:url"
import * as StandIn from "../stand-in/apiServer.js"

export interface Target {
  /** For test names: "stand-in API server" or "cluster <context>". */
  readonly label: string
  readonly kubeconfig: string
  readonly context: string | undefined
  readonly namespace: string
  readonly image: string
  /** The pod's view of the fixture daemon and of a directory that exists there. */
  readonly fixture: string
  readonly workingDirectory: string
  /** Present when the target is the stand-in. */
  readonly standIn: StandIn.StandIn | undefined
  /** A config (as in a file) whose pods act out `behavior`. */
  readonly daemon: (name: string, behavior: Behavior.Behavior, extra?: Partial<DaemonConfig.Input>) => DaemonConfig.Input
  close(): Promise<void>
}

/** Whether the suite runs against a real cluster. */
export const real = process.env.DUENDE_K8S_KUBECONFIG !== undefined && process.env.DUENDE_K8S_KUBECONFIG !== ""

const localFixture = fileURLToPath(new URL("../fixtures/pod-daemon.mjs", import.meta.url))
const localDirectory = fileURLToPath(new URL("../fixtures", import.meta.url))

/** Starts the target: a fresh stand-in, or the cluster of DUENDE_K8S_KUBECONFIG. */
export const start = async (): Promise<Target> => {
  const namespace = process.env.DUENDE_K8S_NAMESPACE ?? "duende-test"
  // The stand-in's kubelet back-off is a tenth of the real one (1 s, 2 s, 4 s…), to keep the suite short.
  const standIn = real ? undefined : await StandIn.start({ namespace, backoffScale: 0.1 })
  const image = process.env.DUENDE_K8S_IMAGE ?? "localhost/duende-fixture:test"
  const fixture = real ? process.env.DUENDE_K8S_FIXTURE ?? "/app/packages/platform-kubernetes/test/fixtures/pod-daemon.mjs" : localFixture
  const workingDirectory = real ? "/app" : localDirectory
  return {
    label: real ? `cluster ${process.env.DUENDE_K8S_CONTEXT ?? "(current context)"}` : "stand-in API server",
    kubeconfig: real ? process.env.DUENDE_K8S_KUBECONFIG! : standIn!.kubeconfig,
    context: real ? process.env.DUENDE_K8S_CONTEXT : undefined,
    namespace,
    image,
    fixture,
    workingDirectory,
    standIn,
    daemon: (name, behavior, extra = {}) => ({
      name,
      command: ["node", fixture],
      // Probes run a node process each (`duende health`): generous timeouts for loaded machines.
      health: { interval: "2s", timeout: "20s" },
      initTimeout: "60s",
      shutdownTimeout: "10s",
      ...extra,
      env: { ...Behavior.toEnv(behavior), ...extra.env },
      platform: { kubernetes: { image, ...(extra.platform as any)?.kubernetes } }
    }),
    close: async () => {
      await standIn?.close()
    }
  }
}
