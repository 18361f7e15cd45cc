#!/usr/bin/env node
// A static server for the built page, on 127.0.0.1, with the two headers that make a page
// cross-origin isolated (SharedArrayBuffer, which the WOS host needs, exists only then); under
// /plain/ the same files are served without them. The test in packages/platform-wos uses it;
// by hand: node examples/wos-browser/serve.mjs DIRECTORY [PORT]
import { readFileSync } from "node:fs"
import { createServer } from "node:http"
import { extname, join } from "node:path"
import { pathToFileURL } from "node:url"

const types = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm"
}

/**
 * Serves the files directly in `directory` (.html, .js, .wasm only).
 *
 * @param {string} directory
 * @param {number} [port] 0: any free port
 * @returns {Promise<{ url: string, close: () => Promise<void> }>}
 */
export const serve = async (directory, port = 0) => {
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1")
    const plain = url.pathname.startsWith("/plain/")
    const name = (plain ? url.pathname.slice("/plain".length) : url.pathname).replace(/^\/+/, "") || "index.html"
    const type = types[extname(name)]
    if (name.includes("/") || name.startsWith(".") || type === undefined) {
      response.writeHead(404).end()
      return
    }
    let body
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
  await new Promise((done) => server.listen(port, "127.0.0.1", done))
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () =>
      new Promise((done) => {
        server.close(() => done())
        server.closeAllConnections()
      })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [directory, port] = process.argv.slice(2)
  if (directory === undefined) {
    process.stderr.write("usage: node examples/wos-browser/serve.mjs DIRECTORY [PORT]\n")
    process.exit(2)
  }
  const { url } = await serve(directory, Number(port ?? 8080))
  process.stdout.write(`serving ${directory} at ${url}\n`)
}
