/**
 * The "host" root filesystem of runc/crun bundles: an empty root directory
 * in which the host's system directories appear read-only, so programs
 * installed on the host (node, tini) run in the container unchanged. /usr
 * and /etc are bound; /bin, /sbin and /lib* are bound when they are
 * directories and recreated as the same symlinks on merged-/usr systems.
 *
 * @internal
 */
import { lstatSync, readlinkSync } from "node:fs"

export interface HostLayout {
  /** Host directories bound read-only at the same path. */
  readonly binds: ReadonlyArray<string>
  /** Symlinks to create in the empty root: [name, target]. */
  readonly links: ReadonlyArray<readonly [string, string]>
}

const always = ["/usr", "/etc"]
const optional = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]

export const hostLayout = (root = ""): HostLayout => {
  const binds = [...always]
  const links: Array<readonly [string, string]> = []
  for (const path of optional) {
    try {
      const stat = lstatSync(`${root}${path}`)
      if (stat.isSymbolicLink()) links.push([path.slice(1), readlinkSync(`${root}${path}`)])
      else if (stat.isDirectory()) binds.push(path)
    } catch {
      // not on this host
    }
  }
  return { binds, links }
}
