import { packageConfig } from "../../tsup.config.base.js"

// The kernel and its Node host ("."), the manager half ("./adapter" — core's
// PlatformAdapter on the kernel), and the `wos-ctl` command; for a browser, the
// kernel with its Web Worker host ("./browser", ESM, no Node module) and the
// worker script ("./browser-worker", self-contained: the WASI shim inside, so a
// page serves it as it is).
export default [
  packageConfig(["src/index.ts", "src/adapter.ts", "src/wos-ctl.ts"], { splitting: true }),
  packageConfig({ browser: "src/browser.ts" }, { format: ["esm"], platform: "browser", target: "es2022", clean: false }),
  packageConfig({ "browser-worker": "src/browser-worker.ts" }, {
    format: ["esm"],
    platform: "browser",
    target: "es2022",
    clean: false,
    noExternal: [/.*/]
  })
]
