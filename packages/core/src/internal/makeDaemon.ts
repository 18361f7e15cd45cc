/**
 * The constructor behind `Daemon.make` (kept apart so the Promise facade can
 * build daemons without importing the Daemon module).
 *
 * @internal
 */
import type { Daemon, Options } from "../Daemon.js"

export const makeDaemon = <S = void, E = never, R = never>(options: Options<S, E, R>): Daemon<E, R> => ({
  _tag: "Daemon",
  name: options.name,
  hooks: options
})
