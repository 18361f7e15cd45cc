/**
 * The VMM driver interface: what the adapter needs from a virtual machine
 * monitor. QEMU (`QemuDriver`) is the first driver. A Firecracker or Cloud
 * Hypervisor driver would: start the VMM with an API socket in the machine's
 * directory, configure kernel, initrd, memory and vCPUs through its REST API
 * (`PUT /boot-source`, `/machine-config`, then `InstanceStart`), expose the
 * agent channel as a unix socket (their vsock proxy: connect, write
 * `CONNECT <port>\n`, read `OK <port>`, then the same byte stream), and map
 * pause/resume/quit to `PATCH /vm {"state": "Paused"|"Resumed"}` and
 * `SendCtrlAltDel`. Neither can be installed here, and neither runs without KVM.
 *
 * A machine is a scoped resource: when its scope closes the VMM is killed,
 * awaited, and its directory (its sockets) removed.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * A host port forwarded (TCP, on 127.0.0.1 only) to a guest port.
 *
 * @since 0.1.0
 */
export interface PortForward {
  readonly host: number
  readonly guest: number
}

/**
 * What to boot.
 *
 * @since 0.1.0
 */
export interface MachineSpec {
  readonly name: string
  readonly kernel: string
  readonly initrd: string
  readonly memoryMiB: number
  readonly vcpus: number
  /** Kernel command-line parameters added to the driver's own. */
  readonly cmdline: ReadonlyArray<string>
  /** A directory for the machine's sockets (created 0700, removed with the machine). */
  readonly directory: string
  readonly forwards: ReadonlyArray<PortForward>
}

/**
 * How the VMM process ended.
 *
 * @since 0.1.0
 */
export interface MachineExit {
  readonly code: number | null
  readonly signal: string | null
  /** The VMM's last stderr lines. */
  readonly stderr: string
}

/**
 * A running machine.
 *
 * @since 0.1.0
 */
export interface Machine {
  readonly name: string
  /** The VMM's pid. */
  readonly pid: number
  readonly accel: "kvm" | "tcg"
  /** The unix socket carrying the agent's byte stream (see `AgentChannel`). */
  readonly agentSocket: string
  /** The last lines the guest printed on its console (up to 500: kernel, init, the agent's stderr). */
  readonly consoleTail: Effect.Effect<ReadonlyArray<string>>
  /** Waits for the VMM to exit. */
  readonly exited: Effect.Effect<MachineExit>
  readonly pause: Effect.Effect<void, VmmError>
  readonly resume: Effect.Effect<void, VmmError>
  /** Asks the VMM to quit (QMP `quit`); `kill` if that fails. */
  readonly quit: Effect.Effect<void>
  /** Kills the VMM (SIGKILL) and waits for it. */
  readonly kill: Effect.Effect<void>
}

/**
 * A VMM could not do what was asked: start, boot, pause, resume.
 *
 * @since 0.1.0
 */
export class VmmError extends Data.TaggedError("VmmError")<{
  readonly vmm: string
  readonly operation: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.vmm} ${this.operation}: ${this.reason}`
  }
}

/**
 * A VMM driver.
 *
 * @since 0.1.0
 */
export interface VmmDriver {
  readonly name: string
  /** Boots a machine for the life of the scope. */
  readonly boot: (spec: MachineSpec) => Effect.Effect<Machine, VmmError, Scope.Scope>
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { VmmDriver } from "@duende/platform-pepita/adapter"
 * import { Effect } from "effect"
 *
 * const machine = Effect.flatMap(VmmDriver.VmmDriver, (driver) => driver.boot(spec))
 * ```
 *
 * @since 0.1.0
 */
export const VmmDriver: Context.Tag<VmmDriver, VmmDriver> = Context.GenericTag<VmmDriver>(
  "@duende/platform-pepita/VmmDriver"
)
