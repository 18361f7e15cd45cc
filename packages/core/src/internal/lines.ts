/**
 * Text that arrives in pieces (pipe, socket or file reads) cut into whole
 * lines.
 *
 * @internal
 */

/**
 * A function to feed each piece of text to: `onLine` gets every complete line
 * (without its newline), in order; an unfinished line waits for the next
 * piece, of which at most `keep` characters are kept.
 */
export const lineSplitter = (onLine: (line: string) => void, keep = Number.POSITIVE_INFINITY) => {
  let partial = ""
  return (text: string): void => {
    const lines = (partial + text).split("\n")
    partial = lines.pop()!.slice(-keep)
    for (const line of lines) onLine(line)
  }
}
