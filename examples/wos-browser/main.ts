// The page's script: boots a WOS kernel with two counters (examples/wos-counter, compiled to
// counter.wasm), shows `ps` and their output, and sends TERM to counter-a when the button is pressed:
// its handler runs, it prints how far it counted and exits 0. Built with esbuild into main.js beside
// browser-worker.js and counter.wasm (the test in packages/platform-wos/test/browser.test.ts does it).
import { BrowserWosHost, WosKernel } from "@duende/platform-wos/browser"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"

const element = (id: string) => document.getElementById(id)!
const status = (text: string, state: string) => {
  element("status").textContent = text
  element("status").dataset.state = state
}
const stateText = (state: WosKernel.ProcessState) => state._tag === "Terminated" ? `Terminated(${state.code})` : state._tag

const program = Effect.gen(function*() {
  const host = yield* BrowserWosHost.make({ cpus: 2, worker: new URL("./browser-worker.js", import.meta.url) })
  const events = yield* host.events
  yield* Effect.forkScoped(Stream.runForEach(events, (event) =>
    Effect.sync(() => {
      const line = event._tag === "Log"
        ? `[${event.pid}] ${event.line.text}`
        : event._tag === "Exited"
        ? `[${event.pid}] exited: ${event.exit.reason} (code ${event.exit.code})`
        : event._tag === "Ready"
        ? `[${event.pid}] ready`
        : `[${event.pid}] ${event.healthy ? "healthy" : "unhealthy"}`
      element("log").textContent += `${line}\n`
    })))
  const module = new URL("./counter.wasm", import.meta.url).href
  const a = yield* host.spawn({ name: "counter-a", module, args: ["5"], priority: 3 })
  const b = yield* host.spawn({ name: "counter-b", module, args: ["5"], priority: 4 })
  yield* Effect.forkScoped(Effect.repeat(
    Effect.flatMap(host.kernel.ps, (table) =>
      Effect.sync(() => {
        element("ps").innerHTML = ""
        for (const p of table) {
          const row = document.createElement("tr")
          row.dataset.name = p.name
          for (const cell of [p.pid, p.ppid, p.name, stateText(p.state), p.priority]) {
            row.appendChild(document.createElement("td")).textContent = String(cell)
          }
          element("ps").appendChild(row)
        }
      })),
    Schedule.spaced("100 millis")
  ))
  yield* Effect.all([a.awaitReady, b.awaitReady])
  status(`running: counter-a is pid ${a.pid}, counter-b is pid ${b.pid}`, "running")
  const button = element("term") as HTMLButtonElement
  button.disabled = false
  yield* Effect.async<void>((resume) => {
    button.onclick = () => resume(Effect.void)
  })
  button.disabled = true
  yield* host.signal(a.pid, 15)
  const exit = yield* a.awaitExit
  status(`counter-a exited: ${exit.reason}`, "stopped")
  return yield* Effect.never
})

Effect.runFork(
  Effect.scoped(program).pipe(
    Effect.catchAll((error) => Effect.sync(() => status(error.message, "failed"))),
    Effect.catchAllDefect((defect) => Effect.sync(() => status(`failed: ${String(defect)}`, "failed")))
  )
)
