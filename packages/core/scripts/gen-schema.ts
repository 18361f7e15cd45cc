// Writes daemon-config.schema.json (the editor schema shipped with the package)
// from the Schema in src/. A test fails when the committed file is stale.
import { renameSync, writeFileSync } from "node:fs"
import { jsonSchema } from "../src/DaemonConfigSchema.js"

const target = new URL("../daemon-config.schema.json", import.meta.url)
const temp = new URL(`../daemon-config.schema.json.${process.pid}.tmp`, import.meta.url)
writeFileSync(temp, `${JSON.stringify(jsonSchema(), null, 2)}\n`)
renameSync(temp, target)
console.log(`wrote ${target.pathname}`)
