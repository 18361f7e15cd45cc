import { defineConfig, type Options } from "tsup"

/**
 * The one build recipe every package uses: ESM + CJS for Node >= 20,
 * dependencies and peer dependencies left external. Declarations come from
 * `tsc` (see each package's build script): bundled .d.ts lose the type half of
 * names that are both an interface and a value (Effect's `Tag` convention) inside
 * `export * as` namespaces; `scripts/cjs-types.mjs` then writes the `.d.cts`
 * twins the `require` conditions point at. No source maps: they would point at
 * `src/`, which is not published, and the output is readable, unminified code.
 */
export const packageConfig = (entry: Options["entry"], overrides: Options = {}) =>
  defineConfig({
    entry,
    format: ["esm", "cjs"],
    dts: false,
    clean: true,
    sourcemap: false,
    target: "node20",
    platform: "node",
    splitting: false,
    treeshake: true,
    ...overrides
  })
