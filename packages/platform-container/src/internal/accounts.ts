/**
 * Numeric ids for a bundle's `process.user`: OCI runtimes take uid/gid only,
 * so user and group names are looked up in the container's own /etc/passwd
 * and /etc/group (the host's for the "host" root).
 *
 * @internal
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"

export interface Ids {
  readonly uid: number
  readonly gid: number
}

const readTable = (path: string): ReadonlyArray<ReadonlyArray<string>> | undefined => {
  try {
    return readFileSync(path, "utf8").split("\n").filter((line) => line !== "" && !line.startsWith("#"))
      .map((line) => line.split(":"))
  } catch {
    return undefined
  }
}

/** Resolves `user` and `group` (names or numbers) against the files under `etc`; a string says what failed. */
export const resolveIds = (etc: string, user: string | undefined, group: string | undefined): Ids | string => {
  let uid = 0
  let gid = 0
  if (user !== undefined) {
    if (/^\d+$/.test(user)) {
      uid = Number(user)
      const entry = readTable(join(etc, "passwd"))?.find((fields) => fields[2] === user)
      gid = entry !== undefined ? Number(entry[3]) : uid
    } else {
      const entry = readTable(join(etc, "passwd"))?.find((fields) => fields[0] === user)
      if (entry === undefined) return `user "${user}" is not in ${join(etc, "passwd")}`
      uid = Number(entry[2])
      gid = Number(entry[3])
    }
  }
  if (group !== undefined) {
    if (/^\d+$/.test(group)) gid = Number(group)
    else {
      const entry = readTable(join(etc, "group"))?.find((fields) => fields[0] === group)
      if (entry === undefined) return `group "${group}" is not in ${join(etc, "group")}`
      gid = Number(entry[2])
    }
  }
  if (!Number.isSafeInteger(uid) || !Number.isSafeInteger(gid)) return `bad ids for user ${user ?? ""}`
  return { uid, gid }
}
