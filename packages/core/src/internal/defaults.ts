/**
 * Default values of the daemon config, kept free of `effect/Schema` so that the
 * daemon runtime can build a config without loading the schema machinery
 * (which costs ~100 ms of cold start).
 *
 * @internal
 */
export const defaults = {
  version: "0.0.0",
  initTimeoutMs: 60_000,
  shutdownTimeoutMs: 30_000,
  /** How long files must stay unchanged after a change before a watch restarts the daemon. */
  watchDebounceMs: 1_000,
  health: {
    enabled: true,
    intervalMs: 30_000,
    timeoutMs: 10_000,
    retries: 3,
    startPeriodMs: 0
  },
  restart: {
    policy: "on-failure" as const,
    backoff: { initialMs: 1_000, maxMs: 60_000, multiplier: 2, jitter: 0.2 },
    crashLoop: { burst: 5, intervalMs: 60_000 },
    minUptimeMs: 10_000
  },
  native: { logs: { maxSizeBytes: 10 * 1024 * 1024, keep: 5 }, memoryGraceMs: 5_000 },
  pepita: { vcpus: 1, memoryBytes: 256 * 1024 * 1024 },
  wos: { priority: 4 }
}

/** The rule for daemon names (a DNS label), shared by the schema and the schema-free path. */
export const daemonNamePattern = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
