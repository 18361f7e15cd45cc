/**
 * Finding a process tree in the process table.
 *
 * @internal
 */
import type { TableRow } from "../ProcessSource.js"

/** The members of the tree rooted at `root` (root included, `exclude` left out). */
export const treeOf = (root: number, rows: ReadonlyArray<TableRow>, exclude: number): ReadonlyArray<number> => {
  const children = new Map<number, Array<number>>()
  let leadsSession = false
  for (const row of rows) {
    const list = children.get(row.ppid)
    if (list) list.push(row.pid)
    else children.set(row.ppid, [row.pid])
    if (row.pid === root && row.sid === root) leadsSession = true
  }
  const found = new Set<number>([root])
  if (leadsSession) for (const row of rows) if (row.sid === root) found.add(row.pid)
  const queue = [...found]
  while (queue.length > 0) {
    for (const child of children.get(queue.pop()!) ?? []) {
      if (!found.has(child)) {
        found.add(child)
        queue.push(child)
      }
    }
  }
  if (exclude !== root) found.delete(exclude)
  return [...found]
}

