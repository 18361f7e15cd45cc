import { packageConfig } from "../../tsup.config.base.js"

// Four entries (runtime, manager, schema, the notify protocol for other managers) and code splitting:
// a daemon importing "@duende/core" loads neither manager code nor effect/Schema (loaded on first decode).
export default packageConfig(["src/index.ts", "src/manager.ts", "src/DaemonConfigSchema.ts", "src/NotifyProtocol.ts"], { splitting: true })
