// The `duende` binary as a user runs it: a new process per command, with the environment given
// over this process's own, its exit code and both outputs.
import { execFile } from "node:child_process"
import { join } from "node:path"

export const bin = join(__dirname, "..", "..", "bin", "duende.js")

export interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** A runner of `duende …` with `env` (over process.env) and a timeout per command, in `cwd` (default: this process's). */
export const runner = (env: NodeJS.ProcessEnv, timeout = 60_000, cwd?: string) => (...args: Array<string>): Promise<Result> =>
  new Promise((done) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, timeout, ...(cwd === undefined ? {} : { cwd }) }, (error, stdout, stderr) =>
      done({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }))
  })
