import { readFileSync } from "node:fs"
import { relative } from "node:path"
import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"
import { BaseSequencer, type TestSpecification } from "vitest/node"

/** Seconds per test file, from the last full run (`node scripts/test-durations.mjs <report>`). */
const root = fileURLToPath(new URL(".", import.meta.url))
const durations: Record<string, number> = JSON.parse(readFileSync(new URL("./.ci/test-durations.json", import.meta.url), "utf8"))

/**
 * The longest files first (a new file counts as 10 s), so that both workers finish together:
 * on a clean checkout vitest has no cache of durations and starts the largest files first,
 * which left a two-minute file running alone at the end.
 */
class LongestFirst extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    const seconds = (file: TestSpecification) => durations[relative(root, file.moduleId)] ?? 10
    return [...files].sort((a, b) => seconds(b) - seconds(a))
  }
}

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
    // Tests spawn real daemons and signal them: separate processes keep their signal handlers apart.
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default"],
    sequence: { hooks: "list", sequencer: LongestFirst }
  }
})
