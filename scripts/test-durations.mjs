// Writes .ci/test-durations.json, the seconds each test file took, from a vitest JSON report:
//   npx vitest run --reporter=default --reporter=json --outputFile=/tmp/report.json
//   node scripts/test-durations.mjs /tmp/report.json
// The sequencer in vitest.config.ts starts the longest files first, so that the two workers
// end together instead of one running a two-minute file alone at the end (a clean CI checkout
// has no vitest cache of durations to sort by).
import { readFileSync, renameSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"

const root = join(import.meta.dirname, "..")
const report = JSON.parse(readFileSync(process.argv[2], "utf8"))
const durations = Object.fromEntries(
  report.testResults
    .map((file) => [relative(root, file.name), Math.round((file.endTime - file.startTime) / 100) / 10])
    .sort(([a], [b]) => (a < b ? -1 : 1))
)
const target = join(root, ".ci", "test-durations.json")
writeFileSync(`${target}.tmp`, `${JSON.stringify(durations, null, 2)}\n`)
renameSync(`${target}.tmp`, target)
console.log(`${Object.keys(durations).length} files → ${relative(root, target)}`)
