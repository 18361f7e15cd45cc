import { defineConfig, type Options } from "tsup"

/**
 * The one build recipe every package uses: ESM + CJS for Node >= 20,
 * dependencies left external. Declarations come from `tsc` (see each package's
 * build script): bundled .d.ts lose the type half of names that are both an
 * interface and a value (Effect's `Tag` convention) inside `export * as` namespaces.
 */
export const packageConfig = (entry: Options["entry"], overrides: Options = {}) =>
  defineConfig({
    entry,
    format: ["esm", "cjs"],
    dts: false,
    clean: true,
    sourcemap: true,
    target: "node20",
    platform: "node",
    splitting: false,
    treeshake: true,
    ...overrides
  })
