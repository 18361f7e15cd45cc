/**
 * The code of a WOS process's worker thread in Node. It runs as the text of
 * `workerSource` (an eval worker), so it imports nothing: node modules come
 * from `process.getBuiltinModule`, constants from `workerData`, and the
 * process itself (`runProcess`, shared with the browser's Web Worker) is
 * passed in as text too.
 */
import type { WorkerData } from "./control.js"
import { runProcess } from "./process.js"

const workerMain = (run: typeof runProcess): void => {
  const { parentPort, workerData } = process.getBuiltinModule("node:worker_threads")
  const { WASI } = process.getBuiltinModule("node:wasi")
  const { openSync } = process.getBuiltinModule("node:fs")
  const data = workerData as WorkerData
  const wasi = new WASI({
    version: "preview1",
    args: [...data.args],
    env: data.env,
    // The sandbox also at its own path, which PWD names: chdir(getenv("PWD")) makes it the working directory.
    preopens: { "/sandbox": data.sandbox, [data.sandbox]: data.sandbox },
    stdin: openSync("/dev/null", "r"),
    returnOnExit: true
  })
  run(data, {
    post: (message) => parentPort!.postMessage(message),
    preview1: (wasi.getImportObject() as { wasi_snapshot_preview1: Record<string, (...args: Array<number>) => number> })
      .wasi_snapshot_preview1,
    start: (instance) => wasi.start(instance)
  })
}

/**
 * The worker's code as the text of an eval worker. Transpilers that keep
 * function names (tsx, esbuild's keepNames) wrap functions in a `__name`
 * helper defined outside this function: the text brings its own.
 */
export const workerSource = `const __name = (target) => target;\n(${workerMain.toString()})(${runProcess.toString()})`
