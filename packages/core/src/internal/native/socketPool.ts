/**
 * The listen sockets of each config, shared by its instances: bound when the
 * first one needs them, kept while any instance is installed (so a restart or
 * a crash of every instance refuses no connection), closed when the last one
 * goes. A config whose `listen` changed gets new sockets at its next start.
 *
 * @internal
 */
import type { Listener } from "../../DaemonConfig.js"
import { type HeldSockets, holdSockets } from "./listeners.js"

export class SocketPool {
  private readonly held = new Map<string, { readonly sockets: HeldSockets; readonly users: Set<object> }>()

  /** The sockets of config `name` for `user` (an instance), or why they cannot be had. */
  take(name: string, listeners: ReadonlyArray<Listener>, user: object): HeldSockets | string {
    const current = this.held.get(name)
    if (current !== undefined && current.sockets.key === JSON.stringify(listeners)) {
      current.users.add(user)
      return current.sockets
    }
    if (current !== undefined) {
      // Changed: the old ones stay with the processes that inherited them; new ones from now on.
      current.sockets.close()
      this.held.delete(name)
    }
    const sockets = holdSockets(listeners)
    if (typeof sockets !== "string") this.held.set(name, { sockets, users: new Set([user]) })
    return sockets
  }

  /** `user` no longer needs them; the last user's release closes them. */
  release(name: string, user: object): void {
    const current = this.held.get(name)
    if (current === undefined || !current.users.delete(user) || current.users.size > 0) return
    current.sockets.close()
    this.held.delete(name)
  }
}
