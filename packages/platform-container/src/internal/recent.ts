/**
 * Remembers the last few keys seen: an event stream that reconnects from the
 * time of its last event replays that event, and a replayed start must not
 * look like a restart.
 *
 * @internal
 */
export const recent = (capacity = 256): ((key: string) => boolean) => {
  const keys = new Set<string>()
  return (key) => {
    if (keys.has(key)) return true
    keys.add(key)
    if (keys.size > capacity) keys.delete(keys.values().next().value!)
    return false
  }
}
