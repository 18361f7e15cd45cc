/**
 * The native notify protocol: the lines a Duende daemon writes to its manager
 * on the fd named by `DUENDE_NOTIFY_FD` (`READY=1`, `STATUS=…`, `WATCHDOG=1`,
 * `HEALTH=healthy 0 …`), as systemd's sd_notify has them. For managers other
 * than the native supervisor that run Duende daemons themselves (pepita's
 * guest agent), so every manager reads the same lines the same way.
 *
 * ```ts
 * import * as NotifyProtocol from "@duende/core/NotifyProtocol"
 * ```
 *
 * @since 0.1.0
 */
import * as Protocol from "./internal/notifyProtocol.js"

/**
 * What a daemon tells its manager.
 *
 * @since 0.1.0
 */
export type NotifyMessage = Protocol.NotifyMessage

/**
 * The variable that names the notify fd in the daemon's environment.
 *
 * @since 0.1.0
 */
export const notifyFdVariable: string = Protocol.notifyFdVariable

/**
 * Reads one line (without its newline); a line that is not part of the
 * protocol is undefined, and a manager ignores it.
 *
 * @example
 * ```ts
 * import * as NotifyProtocol from "@duende/core/NotifyProtocol"
 *
 * NotifyProtocol.decode("READY=1") // { _tag: "Ready" }
 * NotifyProtocol.decode("HEALTH=unhealthy 3 db down") // { _tag: "Health", state: "unhealthy", consecutiveFailures: 3, summary: "db down" }
 * NotifyProtocol.decode("hello") // undefined
 * ```
 *
 * @since 0.1.0
 */
export const decode: (line: string) => NotifyMessage | undefined = Protocol.decode

/**
 * Writes one message as its line (newline included); text is kept to one line.
 *
 * @example
 * ```ts
 * import * as NotifyProtocol from "@duende/core/NotifyProtocol"
 *
 * NotifyProtocol.encode({ _tag: "Status", text: "serving" }) // "STATUS=serving\n"
 * ```
 *
 * @since 0.1.0
 */
export const encode: (message: NotifyMessage) => string = Protocol.encode
