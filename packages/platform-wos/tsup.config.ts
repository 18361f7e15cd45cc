import { packageConfig } from "../../tsup.config.base.js"

// Two entries: the kernel and its Node host ("."), and the manager half
// ("./adapter" — core's PlatformAdapter on the kernel).
export default packageConfig(["src/index.ts", "src/adapter.ts"], { splitting: true })
