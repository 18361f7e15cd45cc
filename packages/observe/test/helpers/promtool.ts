import { spawnSync } from "node:child_process"

/** `promtool check metrics` on an exposition: its exit code and what it printed. */
export const promtoolCheck = (text: string) => {
  const result = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 30_000 })
  return { code: result.status, output: `${result.stdout}${result.stderr}` }
}
