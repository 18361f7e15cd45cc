// The example page examples/wos-browser, built for a browser with esbuild (its script and the
// worker script, from this package's source) beside counter.wasm, and served on 127.0.0.1 with
// the headers that make it cross-origin isolated (SharedArrayBuffer needs them). Under /plain/
// the same files are served without those headers.
import { build, type Metafile } from "esbuild"
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { extname, join, resolve } from "node:path"

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
    target: "chrome120",
    alias: { "@duende/platform-wos/browser": join(source, "browser.ts") },
    metafile: true,
    logLevel: "silent"
  }).then((result) => result.metafile)

/** The browser entries of the package: the host (with the kernel) and the worker script. */
export const browserEntries = { browser: join(source, "browser.ts"), "browser-worker": join(source, "browser-worker.ts") }

/** Builds the page into a temporary directory with `counter.wasm`. */
export const buildPage = async (counterWasm: string) => {
  const directory = mkdtempSync(join(tmpdir(), "wos-browser-"))
  const metafile = await bundle({ main: join(example, "main.ts"), "browser-worker": browserEntries["browser-worker"] }, directory)
  copyFileSync(join(example, "index.html"), join(directory, "index.html"))
  copyFileSync(counterWasm, join(directory, "counter.wasm"))
  return { directory, metafile, remove: () => rmSync(directory, { recursive: true, force: true }) }
}

const types: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm"
}

/** A static server of `directory` on 127.0.0.1, cross-origin isolated except under /plain/. */
export const serve = async (directory: string) => {
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1")
    const plain = url.pathname.startsWith("/plain/")
    const name = (plain ? url.pathname.slice("/plain".length) : url.pathname).replace(/^\/+/, "") || "index.html"
    const type = types[extname(name)]
    if (name.includes("/") || name.startsWith(".") || type === undefined) {
      response.writeHead(404).end()
      return
    }
    let body: Buffer
    try {
      body = readFileSync(join(directory, name))
    } catch {
      response.writeHead(404).end()
      return
    }
    response.writeHead(200, {
      "content-type": type,
      "cache-control": "no-store",
      ...(plain ? {} : { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" })
    })
    response.end(body)
  })
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done())
        server.closeAllConnections()
      })
  }
}
