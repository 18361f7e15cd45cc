#!/usr/bin/env node
// Bundles the guest agent (src/guest/agent.ts, effect included) into one file,
// dist/agent.mjs, which the image builder copies into the VM's initramfs.
import { build } from "esbuild"

await build({
  entryPoints: ["src/guest/agent.ts"],
  outfile: "dist/agent.mjs",
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  minify: true,
  legalComments: "none",
  logLevel: "warning"
})
