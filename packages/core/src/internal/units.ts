/**
 * Parsing and printing of the human units used in config files: durations
 * ("30s", "1m30s", "500ms") and byte sizes ("512M", "1.5GiB").
 *
 * @internal
 */

const durationUnits: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000
}

const durationPart = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy

/**
 * Parses "1h30m", "1.5s", "250ms", "2d" into milliseconds. Returns undefined for
 * anything else (including negative values and empty strings).
 */
export const parseDurationMillis = (input: string): number | undefined => {
  const text = input.trim()
  if (text.length === 0) return undefined
  if (/^\d+(?:\.\d+)?$/.test(text)) return undefined // a bare number in a string is ambiguous
  durationPart.lastIndex = 0
  let total = 0
  let consumed = 0
  for (let match = durationPart.exec(text); match !== null; match = durationPart.exec(text)) {
    total += Number(match[1]) * durationUnits[match[2]!]!
    consumed = durationPart.lastIndex
  }
  return consumed === text.length && Number.isFinite(total) ? total : undefined
}

/** Prints milliseconds compactly: 90000 → "1m30s", 1500 → "1500ms", 0 → "0s". */
export const formatDurationMillis = (millis: number): string => {
  if (millis === 0) return "0s"
  if (!Number.isInteger(millis) || millis % 1000 !== 0) return `${millis}ms`
  let rest = millis
  let out = ""
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1_000]] as const) {
    const count = Math.floor(rest / size)
    if (count > 0) {
      out += `${count}${unit}`
      rest -= count * size
    }
  }
  return out
}

const byteUnits: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4
}

/**
 * Parses "512M", "512MiB", "1.5G", "4096" into bytes (1024-based, as systemd and
 * Docker read them). "MB"-style suffixes are refused because readers disagree on
 * whether they mean 1000 or 1024. Returns undefined when the text is not a size.
 */
export const parseByteSize = (input: string): number | undefined => {
  const match = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(input.trim())
  if (match === null) return undefined
  const unit = byteUnits[match[2]!.toLowerCase()]
  if (unit === undefined) return undefined
  const bytes = Math.round(Number(match[1]) * unit)
  return Number.isSafeInteger(bytes) ? bytes : undefined
}

/** Prints bytes with the largest exact binary unit: 536870912 → "512M". */
export const formatByteSize = (bytes: number): string => {
  for (const [unit, size] of [["T", 1024 ** 4], ["G", 1024 ** 3], ["M", 1024 ** 2], ["K", 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`
  }
  return `${bytes}`
}
