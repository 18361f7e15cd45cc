/**
 * What systemd 252 and Linux accept, measured in a real systemd (PID 1 in
 * systemd-nspawn). A unit that goes beyond one of these is not an error
 * systemd reports while starting: it drops the whole unit, or, worse, ignores
 * the one directive and runs with its default.
 *
 * @internal
 */

/**
 * The longest line of a unit file, in UTF-8 bytes without the newline
 * (LONG_LINE_MAX − 1). At 1,048,576 bytes the unit does not load: "No buffer
 * space available".
 */
export const lineBytes = 1_048_575

/**
 * The longest path (PATH_MAX − 1 bytes). At 4096 bytes systemd refuses
 * WorkingDirectory= (the unit does not load) and ignores ReadWritePaths= and
 * IOReadBandwidthMax= with only a log line; exec fails with ENAMETOOLONG.
 */
export const pathBytes = 4095

/** The longest component of a path (NAME_MAX bytes): "path has invalid length" above it. */
export const nameBytes = 255

/**
 * The longest time span systemd reads exactly: 2^63 − 1 µs (the number is read as
 * a signed 64-bit value). `TimeoutStopSec=9223372036854775808us` (or
 * `8.64e+27ms`) is ignored, "Failed to parse time value", and the default used.
 */
export const maxMicros = 2n ** 63n - 1n
