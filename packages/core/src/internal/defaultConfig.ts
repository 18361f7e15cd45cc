/**
 * A complete config with every default, built without `effect/Schema` for
 * daemons started with no config file or config options.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import type { Command, DaemonConfig } from "../DaemonConfig.js"
import { defaults } from "./defaults.js"

export const defaultConfig = (name: string, command: Command): DaemonConfig => ({
  name,
  version: defaults.version,
  command,
  env: {},
  envProfiles: {},
  resources: { lockMemory: false },
  health: {
    enabled: defaults.health.enabled,
    interval: Duration.millis(defaults.health.intervalMs),
    timeout: Duration.millis(defaults.health.timeoutMs),
    retries: defaults.health.retries,
    startPeriod: Duration.millis(defaults.health.startPeriodMs)
  },
  restart: {
    policy: defaults.restart.policy,
    backoff: {
      initial: Duration.millis(defaults.restart.backoff.initialMs),
      max: Duration.millis(defaults.restart.backoff.maxMs),
      multiplier: defaults.restart.backoff.multiplier,
      jitter: defaults.restart.backoff.jitter
    },
    crashLoop: { burst: defaults.restart.crashLoop.burst, interval: Duration.millis(defaults.restart.crashLoop.intervalMs) },
    minUptime: Duration.millis(defaults.restart.minUptimeMs)
  },
  initTimeout: Duration.millis(defaults.initTimeoutMs),
  shutdownTimeout: Duration.millis(defaults.shutdownTimeoutMs),
  after: [],
  listen: [],
  instances: 1,
  watch: false,
  reload: "signal",
  platform: {}
})
