// A strict reader of the Prometheus text format for tests: every sample line
// back into name, labels and value, undoing the escapes.
export interface Sample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}

export const parseExposition = (text: string): ReadonlyArray<Sample> => {
  const samples: Array<Sample> = []
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    let i = 0
    while (i < line.length && /[a-zA-Z0-9_:]/.test(line[i]!)) i++
    const name = line.slice(0, i)
    const labels: Record<string, string> = {}
    if (line[i] === "{") {
      i++
      while (line[i] !== "}") {
        const eq = line.indexOf("=", i)
        const label = line.slice(i, eq)
        if (line[eq + 1] !== "\"") throw new Error(`bad label in ${line}`)
        i = eq + 2
        let value = ""
        while (line[i] !== "\"") {
          if (line[i] === "\\") {
            const next = line[i + 1]
            value += next === "n" ? "\n" : next === "\\" ? "\\" : next === "\"" ? "\"" : `\\${next}`
            i += 2
          } else {
            value += line[i]
            i++
          }
          if (i >= line.length) throw new Error(`unterminated label value in ${line}`)
        }
        labels[label] = value
        i++
        if (line[i] === ",") i++
      }
      i++
    }
    if (line[i] !== " ") throw new Error(`expected a space after the series in ${line}`)
    const raw = line.slice(i + 1)
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw)
    if (raw === "" || (Number.isNaN(value) && raw !== "NaN")) throw new Error(`bad value in ${line}`)
    samples.push({ name, labels, value })
  }
  return samples
}
