import { packageConfig } from "../../tsup.config.base.js"

// Two entries and code splitting: a daemon importing "@duende/core" does not load
// effect/Schema until a config has to be decoded (the schema is its own chunk).
export default packageConfig(["src/index.ts", "src/DaemonConfigSchema.ts"], { splitting: true })
