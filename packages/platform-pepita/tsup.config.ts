import { packageConfig } from "../../tsup.config.base.js"

// Two entries: the runtime half ("." — loaded by a daemon inside its VM, kept light)
// and the manager half ("./adapter" — image, VMM driver, agent channel, the adapter).
// The guest agent is bundled on its own into dist/agent.mjs (scripts/bundle-agent.mjs).
export default packageConfig(["src/index.ts", "src/adapter.ts"], { splitting: true })
