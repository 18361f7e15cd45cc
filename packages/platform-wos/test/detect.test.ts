// Platform.detect inside WOS, from what a real WOS process sees: a C program (compiled by clang)
// prints the environment the Node host gave it, and core's detection, on this machine's real
// probe with that environment, says "wos" from the ABI marker — whatever this machine's own
// surroundings (a container, systemd) show.
import { Platform } from "@duende/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as NodeWosHost from "../src/NodeWosHost.js"
import { compile, gate, sources } from "./helpers/wasm.js"

describe.runIf(gate.ok)(`Platform.detect inside WOS${gate.label}`, () => {
  it.scopedLive("a WOS process's environment carries the ABI marker, and detection names WOS from it", () =>
    Effect.gen(function*() {
      const module = yield* Effect.promise(() => compile(sources.env))
      const host = yield* NodeWosHost.make()
      const proc = yield* host.spawn({ name: "env", module, env: { GREETING: "hola" } })
      expect((yield* proc.awaitExit).code).toBe(0)
      const env = Object.fromEntries(
        (yield* proc.logs).map((line) => [line.text.slice(0, line.text.indexOf("=")), line.text.slice(line.text.indexOf("=") + 1)])
      )
      expect(env).toMatchObject({ GREETING: "hola", WOS_PID: String(proc.pid), DUENDE_WOS_ABI: "1" })
      const inside = { ...Platform.processProbe(), env }
      expect(Platform.detect(inside)).toEqual({ kind: "wos", markers: [`env WOS_PID`, "env DUENDE_WOS_ABI=1"] })
      // The same machine outside WOS is not WOS.
      const outside = { ...Platform.processProbe(), env: { ...process.env, WOS_PID: undefined, DUENDE_WOS_ABI: undefined } }
      expect(Platform.detect(outside).kind).not.toBe("wos")
    }))
})
