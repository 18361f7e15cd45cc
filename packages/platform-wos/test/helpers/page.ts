// The example page examples/wos-browser, built for a browser with esbuild (its script and the
// worker script, from this package's source) beside counter.wasm, and served by the example's
// serve.mjs (127.0.0.1, cross-origin isolated: SharedArrayBuffer needs it; not under /plain/).
import { build, type Metafile } from "esbuild"
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

const root = resolve(__dirname, "../../../..")
const example = join(root, "examples/wos-browser")
const source = resolve(__dirname, "../../src")

/**
 * Bundles `entries` for a browser (`platform: "browser"`: a `node:*` import anywhere fails the
 * build); `@duende/platform-wos/browser` is this package's source.
 */
export const bundle = (entries: Record<string, string>, outdir: string): Promise<Metafile> =>
  build({
    entryPoints: entries,
    outdir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    alias: { "@duende/platform-wos/browser": join(source, "browser.ts") },
    metafile: true,
    logLevel: "silent"
  }).then((result) => result.metafile)

/** The browser entries of the package: the host (with the kernel) and the worker script. */
export const browserEntries = { browser: join(source, "browser.ts"), "browser-worker": join(source, "browser-worker.ts") }

/**
 * Builds the page (index.html) and the test's probe page (probe.html, test/fixtures/browser-probe.ts)
 * into a temporary directory, with the given `.wasm` files.
 */
export const buildPage = async (wasm: Record<string, string>) => {
  const directory = mkdtempSync(join(tmpdir(), "wos-browser-"))
  await bundle({
    main: join(example, "main.ts"),
    probe: resolve(__dirname, "../fixtures/browser-probe.ts"),
    "browser-worker": browserEntries["browser-worker"]
  }, directory)
  copyFileSync(join(example, "index.html"), join(directory, "index.html"))
  writeFileSync(join(directory, "probe.html"), `<!doctype html>\n<link rel="icon" href="data:,">\n<script type="module" src="./probe.js"></script>\n`)
  for (const [name, path] of Object.entries(wasm)) copyFileSync(path, join(directory, `${name}.wasm`))
  return { directory, remove: () => rmSync(directory, { recursive: true, force: true }) }
}

export { serve } from "../../../../examples/wos-browser/serve.mjs"
