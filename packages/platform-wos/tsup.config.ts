import { packageConfig } from "../../tsup.config.base.js"

// The kernel and its Node host ("."), the manager half ("./adapter" — core's
// PlatformAdapter on the kernel), and the `wos-ctl` command.
export default packageConfig(["src/index.ts", "src/adapter.ts", "src/wos-ctl.ts"], { splitting: true })
