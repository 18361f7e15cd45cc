/**
 * What the daemon and its manager agree on under launchd, which has no
 * readiness protocol: the daemon writes marker lines to its stderr (the
 * job's StandardErrorPath) when it starts, is ready, reloads, stops and
 * changes its status text; the adapter reads them back from the log file.
 * Each line carries the daemon's pid, so a line of an earlier run is never
 * taken for the current one.
 *
 *     2026-05-01T10:00:00.000Z duende-launchd: ready pid=4242
 *     2026-05-01T10:00:03.500Z duende-launchd: status pid=4242 "serving 3 clients"
 *
 * @internal
 */

/** The variable naming the job's sockets for launch_activate_socket (comma-separated). */
export const socketsVariable = "DUENDE_LAUNCHD_SOCKETS"

export type MarkerEvent = "hello" | "ready" | "reloading" | "stopping" | "status" | "exit"

export interface Marker {
  readonly at: number
  readonly event: MarkerEvent
  readonly pid: number
  readonly text: string | undefined
  /** The exit code, on an "exit" marker. */
  readonly code: number | undefined
}

const tag = "duende-launchd:"

/** One marker line, newline-terminated; a status text is JSON-quoted, so it stays on one line. */
export const markerLine = (
  event: MarkerEvent,
  pid: number,
  at: number,
  detail: { readonly text?: string; readonly code?: number } = {}
): string =>
  `${new Date(at).toISOString()} ${tag} ${event} pid=${pid}${detail.code === undefined ? "" : ` code=${detail.code}`}${
    detail.text === undefined ? "" : ` ${JSON.stringify(detail.text)}`
  }\n`

const pattern =
  /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) duende-launchd: (hello|ready|reloading|stopping|status|exit) pid=(\d{1,10})(?: code=(\d{1,3}))?(?: ("(?:[^"\\]|\\.)*"))?$/

/** The marker on a log line, if it is one. */
export const parseMarker = (line: string): Marker | undefined => {
  const m = pattern.exec(line)
  if (m === null) return undefined
  let text: string | undefined
  if (m[5] !== undefined) {
    try {
      text = JSON.parse(m[5]) as string
    } catch {
      return undefined
    }
  }
  return { at: Date.parse(m[1]!), event: m[2] as MarkerEvent, pid: Number(m[3]), text, code: m[4] === undefined ? undefined : Number(m[4]) }
}
