/**
 * Resolves the config's user and group (names or numeric ids) to uid/gid from
 * /etc/passwd and /etc/group.
 *
 * @internal
 */
import { readFileSync } from "node:fs"

const lookup = (file: string, name: string, field: number): number | undefined => {
  let text: string
  try {
    text = readFileSync(file, "utf8")
  } catch {
    return undefined
  }
  for (const line of text.split("\n")) {
    const parts = line.split(":")
    if (parts[0] === name) return Number(parts[field])
  }
  return undefined
}

export interface Account {
  readonly uid?: number
  readonly gid?: number
}

/** The uid/gid to run as, or a reason the user or group cannot be used. */
export const resolveAccount = (user: string | undefined, group: string | undefined): Account | string => {
  let uid: number | undefined
  let gid: number | undefined
  if (user !== undefined) {
    uid = /^\d+$/.test(user) ? Number(user) : lookup("/etc/passwd", user, 2)
    if (uid === undefined) return `no user "${user}" in /etc/passwd`
    if (group === undefined && !/^\d+$/.test(user)) gid = lookup("/etc/passwd", user, 3)
  }
  if (group !== undefined) {
    gid = /^\d+$/.test(group) ? Number(group) : lookup("/etc/group", group, 2)
    if (gid === undefined) return `no group "${group}" in /etc/group`
  }
  const current = process.getuid?.()
  if (uid !== undefined && current !== undefined && current !== 0 && uid !== current) {
    return `running as user ${user} needs the supervisor to run as root (it runs as uid ${current})`
  }
  return { ...(uid === undefined ? {} : { uid }), ...(gid === undefined ? {} : { gid }) }
}
