/**
 * The command line a job runs, resolved when the plist is written: the
 * program as an absolute path (from PATH, or this Node when "node" is not on
 * it), and for Node the script too. launchd starts jobs with
 * PATH=/usr/bin:/bin:/usr/sbin:/sbin, where nvm's or volta's `node` is not.
 *
 * @internal
 */
import { accessSync, constants, statSync } from "node:fs"
import { basename, isAbsolute, join, resolve } from "node:path"

export interface Lookup {
  /** PATH to search, ":"-separated. */
  readonly path: string
  /** The node binary to use when "node" is not on PATH. */
  readonly execPath: string
}

const executable = (file: string): boolean => {
  try {
    if (!statSync(file).isFile()) return false
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

const isNodeName = (name: string) => name === "node" || name === "nodejs"

/** The absolute program, or undefined when it is nowhere on PATH. */
export const program = (name: string, lookup: Lookup, workingDirectory: string): string | undefined => {
  if (name.includes("/")) return resolve(workingDirectory, name)
  const found = lookup.path.split(":").filter(isAbsolute).map((dir) => join(dir, name)).find(executable)
  if (found !== undefined) return found
  return isNodeName(name) && executable(lookup.execPath) ? lookup.execPath : undefined
}

export const isNode = (absolute: string, lookup: Lookup): boolean =>
  isNodeName(basename(absolute)) || absolute === lookup.execPath

/** Node options that take the next argument as their value. */
const takesValue = new Set([
  "-r",
  "--require",
  "--import",
  "--loader",
  "--experimental-loader",
  "-C",
  "--conditions",
  "--env-file",
  "--title",
  "--input-type",
  "--inspect-port",
  "--stack-trace-limit"
])

/** Options after which Node reads no script file. */
const noScript = new Set(["-e", "--eval", "-p", "--print", "-", "-v", "--version", "-h", "--help"])

/** Node's arguments with the script (the first operand) made absolute. */
export const nodeArguments = (args: ReadonlyArray<string>, workingDirectory: string): ReadonlyArray<string> => {
  let i = 0
  while (i < args.length) {
    const arg = args[i]!
    if (noScript.has(arg)) return args
    if (arg === "--") {
      i++
      break
    }
    if (!arg.startsWith("-")) break
    i += takesValue.has(arg) ? 2 : 1
  }
  if (i >= args.length) return args
  return args.map((arg, j) => (j === i ? resolve(workingDirectory, arg) : arg))
}
