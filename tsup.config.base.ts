import { defineConfig, type Options } from "tsup"

/**
 * The one build recipe every package uses: ESM + CJS + .d.ts for Node >= 20,
 * one output file per entry, dependencies left external.
 */
export const packageConfig = (entry: Options["entry"], overrides: Options = {}) =>
  defineConfig({
    entry,
    format: ["esm", "cjs"],
    dts: true,
    clean: true,
    sourcemap: true,
    target: "node20",
    platform: "node",
    splitting: false,
    treeshake: true,
    ...overrides
  })
