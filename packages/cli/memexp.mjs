import { DaemonManager, NativeAdapter } from "@duende/core/manager"
import { decodeSync } from "@duende/core/DaemonConfigSchema"
import { HealthMonitor, ProcessSampler } from "@duende/observe/manager"
import { Effect, Layer } from "effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
const withObserve = process.argv[2] === "observe"
const mb = () => { global.gc?.(); const m = process.memoryUsage(); return `rss ${(m.rss/2**20).toFixed(1)} heap ${(m.heapUsed/2**20).toFixed(1)} ext ${(m.external/2**20).toFixed(1)} ab ${(m.arrayBuffers/2**20).toFixed(1)}` }
await Effect.runPromise(Effect.gen(function*() {
  const manager = yield* DaemonManager.DaemonManager
  console.log("start   ", mb())
  for (let i = 0; i < 100; i++) {
    yield* manager.add(decodeSync({ name: `idle-${i}`, command: ["sleep", "infinity"], platform: { native: { ready: "started" } } }))
    yield* manager.start(`idle-${i}`)
  }
  yield* Effect.sleep("3 seconds")
  console.log("100 up  ", mb())
  yield* manager.shutdownAll
}).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(DaemonManager.layer.pipe(Layer.provide(NativeAdapter.layer({ logDirectory: mkdtempSync(join(tmpdir(), "mem-")) }))), ProcessSampler.layer(), HealthMonitor.layer()))))
