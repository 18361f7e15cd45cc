import { defineConfig } from "tsup"
import { packageConfig } from "../../tsup.config.base.js"

export default [
  // The library (Supervisor, ControlClient…): dependencies stay external, as for every package.
  packageConfig(["src/index.ts"]),
  // The duende binary: one bundled file, because a command is started often and
  // Node's loader pays for every module file (about 600 ms for @effect/cli's, unbundled).
  // koffi (native, optional) and jiti (it loads files of its own; only for TypeScript
  // configs) stay outside the bundle: they are the package's only dependencies.
  // @kubernetes/client-node (12 MB bundled) stays outside too, as an optional peer: only
  // `--platform kubernetes` loads it, and says what to install when it is missing.
  // @duende/platform-pepita stays outside as an optional peer: it finds its guest agent
  // (dist/agent.mjs, put into every VM image) next to its own files.
  // No source maps: of the bundled dependencies, they were 9.6 MB of the tarball.
  defineConfig({
    entry: { duende: "src/main.ts" },
    format: ["esm"],
    target: "node20",
    platform: "node",
    bundle: true,
    noExternal: [/^(?!jiti$|koffi$|@kubernetes\/client-node$|@duende\/platform-pepita(?:\/|$))/],
    splitting: true,
    sourcemap: false,
    clean: false,
    banner: { js: "import { createRequire as __duendeRequire } from 'node:module'; const require = __duendeRequire(import.meta.url);" }
  })
]
