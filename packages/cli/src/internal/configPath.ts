/**
 * Config paths given on the command line: whether an argument is one, and why
 * one cannot be read, as one line (a missing file, a directory, a loop of
 * symbolic links, no permission…) instead of the file system's stack trace.
 *
 * @internal
 */
import { lstatSync, statSync } from "node:fs"

/** A value as an error message shows it: quoted, with control characters escaped, when it has any. */
export const shown = (text: string): string => (/[\u0000-\u001f\u007f-\u009f]/.test(text) ? JSON.stringify(text) : text)

const isLink = (path: string) => {
  try {
    return lstatSync(path).isSymbolicLink()
  } catch {
    return false
  }
}

/** Whether `arg` names a config file rather than a daemon: a config's extension, a slash, or an existing file. */
export const isConfigPath = (arg: string): boolean => {
  if (/\.(json|[cm]?[jt]s)$/.test(arg) || arg.includes("/")) return true
  try {
    return statSync(arg).isFile()
  } catch {
    return false
  }
}

/** Why `path` cannot be read as a config file, or undefined when it is a file to read. */
export const problem = (path: string): string | undefined => {
  const name = shown(path)
  try {
    const stat = statSync(path)
    if (stat.isDirectory()) return `${name} is a directory, not a config file`
    return stat.isFile() ? undefined : `${name} is not a regular file`
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    switch (code) {
      case "ENOENT":
        return isLink(path) ? `${name} is a symbolic link to nothing` : `no such config file: ${name}`
      case "ELOOP":
        return `${name}: too many levels of symbolic links (a loop)`
      case "EACCES":
      case "EPERM":
        return `${name}: permission denied`
      case "ENOTDIR":
        return `${name}: a part of the path is not a directory`
      case "ENAMETOOLONG":
        return `${name}: the path is too long`
      default:
        return `${name}: cannot be read (${code ?? (error as Error).message})`
    }
  }
}
