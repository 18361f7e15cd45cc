import { packageConfig } from "../../tsup.config.base.js"

// Behavior is its own entry: the contract fixture (a daemon process) loads it without vitest.
// AdapterContract is its own entry: it registers vitest tests, and nothing else may load vitest.
export default packageConfig(["src/index.ts", "src/Behavior.ts", "src/AdapterContract.ts"], { splitting: true, external: ["vitest", "@effect/vitest"] })
