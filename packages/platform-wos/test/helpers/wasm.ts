// The example and fixture programs, compiled with clang --target=wasm32-wasi at test time
// (in parallel, cached by content hash in the temporary directory); without clang and
// wasi-libc the suites skip loudly (fail in CI).
import { Integration } from "@duende/testing"
import { execFile } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { promisify } from "node:util"

const root = resolve(__dirname, "../../../..")
const include = resolve(__dirname, "../../include")

export const sources = {
  counter: join(root, "examples/wos-counter/counter.c"),
  spin: join(root, "examples/wos-spin/spin.c"),
  fork: join(root, "examples/wos-fork/fork.c"),
  grow: resolve(__dirname, "../fixtures/grow.c"),
  work: resolve(__dirname, "../fixtures/work.c"),
  output: resolve(__dirname, "../fixtures/output.c"),
  fds: resolve(__dirname, "../fixtures/fds.c"),
  contract: resolve(__dirname, "../fixtures/contract.c"),
  env: resolve(__dirname, "../fixtures/env.c")
}

/** clang that builds for wasm32-wasi. */
export const requirements = [
  Integration.tool("clang", "apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32"),
  Integration.command(
    "clang",
    ["--target=wasm32-wasi", "-O2", "-Wl,--import-memory", "-o", "/dev/null", sources.grow],
    "clang cannot build for wasm32-wasi (apt-get install lld wasi-libc libclang-rt-14-dev-wasm32)"
  )
]

export const gate = Integration.check(...requirements)

const cache = join(tmpdir(), "duende-wos-build")

/**
 * Compiles `source` to a .wasm; `importMemory: false` gives a module that defines and
 * exports its own memory.
 */
export const compile = async (source: string, options: { readonly importMemory?: boolean } = {}): Promise<string> => {
  const args = [
    "--target=wasm32-wasi",
    "-O2",
    ...(options.importMemory === false ? [] : ["-Wl,--import-memory"]),
    "-Wl,--export-table",
    `-I${include}`
  ]
  const key = createHash("sha256").update(readFileSync(source)).update(readFileSync(join(include, "duende_wos.h")))
    .update(args.join(" ")).digest("hex").slice(0, 16)
  const target = join(cache, `${key}.wasm`)
  if (existsSync(target)) return target
  mkdirSync(cache, { recursive: true })
  const partial = `${target}.${process.pid}`
  await promisify(execFile)("clang", [...args, "-o", partial, source])
  renameSync(partial, target)
  return target
}

/** Every program, compiled at once. */
export const compileAll = async () => {
  const [counter, spin, grow, work, output, ownMemory, fds, fork, contract] = await Promise.all([
    compile(sources.counter),
    compile(sources.spin),
    compile(sources.grow),
    compile(sources.work),
    compile(sources.output),
    compile(sources.output, { importMemory: false }),
    compile(sources.fds),
    compile(sources.fork),
    compile(sources.contract)
  ])
  return { counter, spin, grow, work, output, ownMemory, fds, fork, contract }
}
