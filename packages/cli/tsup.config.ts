import { packageConfig } from "../../tsup.config.base.js"

// main.ts is the duende binary; index.ts the library surface (Supervisor, ControlClient…).
export default packageConfig(["src/index.ts", "src/main.ts"], { splitting: true })
