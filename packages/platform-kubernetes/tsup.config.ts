import { packageConfig } from "../../tsup.config.base.js"

// Two entries: the runtime half ("." — loaded inside the pod by every daemon, kept light)
// and the manager half ("./adapter" — manifests, the API client and the adapter).
export default packageConfig(["src/index.ts", "src/adapter.ts"], { splitting: true })
