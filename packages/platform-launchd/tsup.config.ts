import { packageConfig } from "../../tsup.config.base.js"

// Two entries: the runtime half ("." — loaded by every daemon at start-up, kept light)
// and the manager half ("./adapter" — plists, launchctl, the adapter).
export default packageConfig(["src/index.ts", "src/adapter.ts"], { splitting: true, external: ["koffi"] })
