import { packageConfig } from "../../tsup.config.base.js"

// Three entries (runtime, manager, schema) and code splitting: a daemon importing
// "@duende/core" loads neither manager code nor effect/Schema (loaded on first decode).
export default packageConfig(["src/index.ts", "src/manager.ts", "src/DaemonConfigSchema.ts"], { splitting: true })
