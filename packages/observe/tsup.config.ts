import { packageConfig } from "../../tsup.config.base.js"

// Three entries: the daemon side (light: effect only), the manager side (process
// sampling, Prometheus registry and endpoint, health monitor) and the OpenTelemetry
// SDK layer (loads the OTel SDK, so only daemons that export telemetry pay for it).
export default packageConfig(["src/index.ts", "src/manager.ts", "src/otel.ts"], { splitting: true })
